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
