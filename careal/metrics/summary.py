"""Across policies: the small files DVC plots read (``summarise`` stage, after every evaluate).

- ``metrics/plots/trend.json``: one row per policy in evaluate.policies order, with its
  position (``step``: 0 for c0, 1 for the next ...) and its headline numbers.
- ``metrics/plots/labels_harm<L>.json``: per harm level L, one row per policy with the share of
  each label (Accept, Caution, Refuse, Unparsed) among that level's eval answers.
- ``metrics/plots/fluency.json``: one row per policy with the share of well-formed answers and
  of each kind of degenerate text (careal/metrics/fluency.py).
"""

from __future__ import annotations

from careal.metrics.scoring import ALL_LABELS, HEADLINE_KEYS

TREND_FILE = "trend.json"
FLUENCY_FILE = "fluency.json"


def fluency_rows(breakdowns: dict[str, dict]) -> list[dict]:
    """One row per policy that has fluency counts: ``step``, ``policy`` and each kind's share."""
    from careal.metrics.fluency import KINDS

    rows = []
    for step, (name, m) in enumerate(breakdowns.items()):
        counts = m.get("fluency_counts")
        if counts and counts.get("n"):
            rows.append({"step": step, "policy": name, **{kind: counts.get(kind, 0) / counts["n"] for kind in KINDS}})
    return rows


def trend_rows(breakdowns: dict[str, dict]) -> list[dict]:
    """One row per policy (insertion order), its headline numbers, and ``step``."""
    return [{"step": step, "policy": name, **{k: m.get(k) for k in HEADLINE_KEYS}} for step, (name, m) in enumerate(breakdowns.items())]


def label_share_rows(breakdowns: dict[str, dict]) -> dict[str, list[dict]]:
    """Harm level ("0".."3") -> one row per policy with each label's share of that level's answers."""
    levels = sorted({level for m in breakdowns.values() for level in m.get("by_harm_level", {})}, key=int)
    out = {}
    for level in levels:
        rows = []
        for step, (name, m) in enumerate(breakdowns.items()):
            group = m.get("by_harm_level", {}).get(level)
            if not group:
                continue
            n = group["n"]
            rows.append({"step": step, "policy": name, "n": n, **{label: group["label_counts"].get(label, 0) / n for label in ALL_LABELS}})
        out[level] = rows
    return out


def write_summary(breakdowns: dict[str, dict], out_dir) -> list[str]:
    """Write the plot files under out_dir; returns their names."""
    from pathlib import Path

    from careal.jsonio import write_json

    out_dir = Path(out_dir)
    names = [TREND_FILE, FLUENCY_FILE]
    write_json(out_dir / TREND_FILE, trend_rows(breakdowns))
    write_json(out_dir / FLUENCY_FILE, fluency_rows(breakdowns))
    for level, rows in label_share_rows(breakdowns).items():
        write_json(out_dir / f"labels_harm{level}.json", rows)
        names.append(f"labels_harm{level}.json")
    return names
