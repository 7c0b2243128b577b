"""Metrics of other git revisions (``careal report --rev`` / ``--against``), read with
``git show REV:path``: headline metrics are committed to git (cache: false), so no DVC call."""

from __future__ import annotations

import json
import subprocess

import yaml

from careal.errors import CarealError


def git_show(rev: str, path: str) -> str | None:
    """File content at a revision; None when the file is absent there."""
    try:
        result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    except FileNotFoundError:
        raise CarealError("git not found: --rev / --against need git") from None
    if result.returncode != 0:
        if "does not exist" in result.stderr or "exists on disk, but not in" in result.stderr:
            return None
        raise CarealError(f"git show {rev}:{path}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'failed'}")
    return result.stdout


def metrics_at(rev: str) -> dict[str, dict]:
    """Policy -> headline metrics at a revision (its own evaluate.policies), each with its
    intervals (metrics/ci/<policy>.json) under ``ci`` where that revision has them."""
    text = git_show(rev, "params.yaml")
    if text is None:
        raise CarealError(f"{rev}: no params.yaml at that revision")
    policies = (yaml.safe_load(text) or {}).get("evaluate", {}).get("policies", [])
    found = {}
    for policy in policies:
        content = git_show(rev, f"metrics/{policy}.json")
        if content is not None:
            found[str(policy)] = json.loads(content)
            intervals = git_show(rev, f"metrics/ci/{policy}.json")
            if intervals is not None:
                found[str(policy)]["ci"] = json.loads(intervals)
    if not found:
        raise CarealError(f"{rev}: no metrics/<policy>.json committed at that revision")
    return found
