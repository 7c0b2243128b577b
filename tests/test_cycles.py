"""`careal cycles add` / `set N` on a copy of the real params.yaml: both keys move together,
comments and the other sections stay byte for byte, and the result is valid params."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
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
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
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
    # dvc.yaml's artifacts follow, and nothing else in dvc.yaml moves
    dvc_yaml = (params_file.parent / "dvc.yaml").read_text()
    added_plot = "  - metrics/train/c4/plots/metrics:\n      x: step\n"
    added_artifact = ("  policy-c4:\n    path: models/c4\n    type: model\n    desc: LoRA adapter of cycle c4 (on models/base)\n"
                      "    meta: {cycle: c4, parent: c3, metrics: metrics/c4.json}\n")
    assert added_plot in dvc_yaml and dvc_yaml.endswith(added_artifact)
    assert dvc_yaml.replace(added_plot, "").replace(added_artifact, "") == (ROOT / "dvc.yaml").read_text()


def test_set_shrinks_and_grows_and_round_trips(params_file):
    before = params_file.read_text()
    assert set_cycles(params_file, 1) == ["c1"]
    params = load_params(params_file)
    assert params.evaluate.policies == ["c0", "c1"] and list(params.cycles) == ["c1"]
    artifacts = yaml.safe_load((params_file.parent / "dvc.yaml").read_text())["artifacts"]
    # the cycles' entries follow; the selected policy's entry (not a cycle) is left alone
    assert [name for name in artifacts if name != "policy-selected"] == ["policy-c1"] and artifacts["policy-c1"]["type"] == "model"
    assert artifacts["policy-selected"]["path"] == "models/selected"
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


def test_doctor_names_the_missing_git_identity_and_the_fix(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global"))
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    subprocess.run(["git", "init", "-q"], check=True)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 2
    assert "no git identity (user.name)" in result.output and "git config user.email" in result.output
    subprocess.run(["git", "config", "user.name", "someone"], check=True)
    subprocess.run(["git", "config", "user.email", "someone@example.invalid"], check=True)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0 and "identity present" in result.output
