"""The metrics files of the policies (metrics/cK.json, metrics/breakdown/cK.json) as the
report, the HTML page and the summary read them."""

from __future__ import annotations

from careal.errors import CarealError
from careal.jsonio import read_json
from careal.layout import BREAKDOWN, CHANGES_FILE, INTERVALS, METRICS


def load_metrics(policies: list[str]) -> dict[str, dict]:
    """metrics/<policy>.json of the policies that have one, each with its intervals
    (metrics/ci/<policy>.json) under ``ci`` where that file exists."""
    found = {}
    for name in policies:
        path = METRICS / f"{name}.json"
        if path.exists():
            found[name] = read_json(path)
            if (INTERVALS / f"{name}.json").exists():
                found[name]["ci"] = read_json(INTERVALS / f"{name}.json")
    if not found:
        raise CarealError(f"no metrics yet under {METRICS}/ (run dvc repro first)")
    return found


def load_breakdowns(policies: list[str]) -> dict[str, dict]:
    """metrics/breakdown/<policy>.json of the policies that have one."""
    return {name: read_json(BREAKDOWN / f"{name}.json") for name in policies if (BREAKDOWN / f"{name}.json").exists()}


def load_changes() -> dict | None:
    """metrics/ci/changes.json (each policy against c0 and its parent), or None before summarise."""
    path = INTERVALS / CHANGES_FILE
    return read_json(path) if path.exists() else None
