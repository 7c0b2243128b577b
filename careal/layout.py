"""Where a careal project keeps its files, relative to the project root (DESIGN.md's output
contracts; docs/architecture.md, "File contracts"). Paths only: no stage, no logic."""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/prepared")
MODELS = Path("models")
CYCLES = Path("data/cycles")
EVAL = Path("data/eval")
METRICS = Path("metrics")
BREAKDOWN = METRICS / "breakdown"
INTERVALS = METRICS / "ci"              # 95% intervals per policy, paired changes (careal/metrics/confidence.py)
CHANGES_FILE = "changes.json"           # metrics/ci/changes.json: each policy against c0 and its parent
JUDGE_PLOTS = Path("plots/judges")
REVIEWS = Path("reviews")               # a person's verdicts, under git (careal/review/store.py, docs/review.md)


def policy_dir(name: str) -> Path:
    """models/<name>: c0's lineage, or cycle cK's adapter."""
    return MODELS / name


def cycle_dir(name: str) -> Path:
    """data/cycles/<name>: one cycle's generations, judgments and preference data."""
    return CYCLES / name
