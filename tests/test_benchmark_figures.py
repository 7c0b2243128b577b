"""The README's performance tables are the benchmark's results file, as
benchmarks/generation_backends.py prints them (no run here: it only compares text)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- generation_backends.json -->", "<!-- end generation_backends.json -->"


def test_readme_quotes_the_generation_backends_results():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from generation_backends import markdown_tables
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    data = json.loads((ROOT / "benchmarks/results/generation_backends.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme
    quoted = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert quoted == markdown_tables(data).strip()


def _code_blocks(text: str) -> list[str]:
    return [block.split("\n", 1)[1].rstrip() for block in text.split("```")[1::2]]


def test_readme_table_is_the_committed_runs_report(monkeypatch):
    """The Quick start's one-run table is `careal report` of the committed metrics/ (seed 0)."""
    from click.testing import CliRunner

    from careal.cli import main

    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 0, result.output
    table = result.output.split("\n\nfluency:")[0].rstrip()
    assert table in _code_blocks((ROOT / "README.md").read_text())


def test_readme_and_balance_quote_the_committed_seed_sweeps():
    """The sweep tables in README.md and docs/balance.md are what `careal sweep` printed for
    benchmarks/results/sweep-*.json, and the DPO sweep's seed 0 is the committed run."""
    from careal.metrics.seeds import format_sweep

    readme = (ROOT / "README.md").read_text()
    balance = (ROOT / "docs/balance.md").read_text()
    for name, sets in (("dpo", []), ("kto", ["train.method=kto"])):
        data = json.loads((ROOT / f"benchmarks/results/sweep-{name}.json").read_text())
        assert data["name"] == name and data["set"] == sets and data["seeds"] == [0, 1, 2]
        printed = format_sweep(data["summary"], data["bar"], title=f"sweep {name}" + (f" ({' '.join(sets)})" if sets else "")).rstrip()
        assert printed in _code_blocks(balance), f"docs/balance.md does not quote the {name} sweep"
        if name == "dpo":
            assert printed in _code_blocks(readme), "README.md does not quote the DPO sweep"
            committed = json.loads((ROOT / "metrics/c3.json").read_text())
            assert abs(data["runs"]["0"]["c3"]["safety_score"] - committed["safety_score"]) < 1e-9


REAL_START, REAL_END = "<!-- real-model.json -->", "<!-- end real-model.json -->"


def test_real_model_page_and_readme_quote_the_committed_results():
    """docs/real-model.md quotes benchmarks/results/real-model.json's tables as
    benchmarks/real_model.py prints them, and the README its headline line (issue 24)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from real_model import headline_sentence, markdown_tables
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    data = json.loads((ROOT / "benchmarks/results/real-model.json").read_text())
    page = (ROOT / "docs/real-model.md").read_text()
    assert REAL_START in page and REAL_END in page
    assert page.split(REAL_START, 1)[1].split(REAL_END, 1)[0].strip() == markdown_tables(data).strip()
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert headline_sentence(data) in readme
    assert data["recipe"].startswith("docs/recipes/") and (ROOT / data["recipe"]).exists()
