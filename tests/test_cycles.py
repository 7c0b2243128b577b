"""`careal cycles add` / `set N` on a copy of the real params.yaml: both keys move together,
comments and the other sections stay byte for byte, and the result is valid params."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from careal.cli import main
from careal.cycles import add_cycles, set_cycles
from careal.errors import CarealError
from careal.params import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    return path


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


def outside_cycles(text: str) -> str:
    """The file without the cycles section and the evaluate.policies line."""
    text = re.sub(r"(?ms)^cycles:.*", "", text)
    return re.sub(r"(?m)^  policies:.*$", "", text)


def test_add_appends_the_next_cycle_to_both_keys_and_keeps_comments(params_file):
    before = params_file.read_text()
    result = CliRunner().invoke(main, ["cycles", "add", "--params", str(params_file)])
    assert result.exit_code == 0, result.output
    assert "c4" in result.output
    after = params_file.read_text()
    params = load_params(params_file)
    assert params.evaluate.policies == ["c0", "c1", "c2", "c3", "c4"]
    assert params.parent("c4") == "c3"
    assert comments(after) == comments(before)
    assert outside_cycles(after) == outside_cycles(before)
    assert "  c4: {prev: c3}\n" in after and "revision: null" in after


def test_set_shrinks_and_grows_and_round_trips(params_file):
    before = params_file.read_text()
    assert set_cycles(params_file, 1) == ["c1"]
    params = load_params(params_file)
    assert params.evaluate.policies == ["c0", "c1"] and list(params.cycles) == ["c1"]
    assert add_cycles(params_file, 2) == ["c2", "c3"]
    after = params_file.read_text()
    assert load_params(params_file).evaluate.policies == ["c0", "c1", "c2", "c3"]
    assert comments(after) == comments(before) and outside_cycles(after) == outside_cycles(before)
    set_cycles(params_file, 0)
    assert load_params(params_file).evaluate.policies == ["c0"]


def test_named_branches_are_refused_with_a_clear_error(params_file):
    params_file.write_text(params_file.read_text().replace("  c3: {prev: c2}", "  c3b: {prev: c2}").replace("c3]", "c3b]"))
    with pytest.raises(CarealError, match="c3b"):
        add_cycles(params_file)
    result = CliRunner().invoke(main, ["cycles", "add", "--params", str(params_file)])
    assert result.exit_code == 2 and "careal: error:" in result.output
