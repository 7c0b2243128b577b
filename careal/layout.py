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
JUDGE_PLOTS = Path("plots/judges")


def policy_dir(name: str) -> Path:
    """models/<name>: c0's lineage, or cycle cK's adapter."""
    return MODELS / name


def cycle_dir(name: str) -> Path:
    """data/cycles/<name>: one cycle's generations, judgments and preference data."""
    return CYCLES / name
