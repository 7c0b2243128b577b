"""The per-cycle metrics table that ends a pipeline run (``careal report``)."""

from __future__ import annotations

COLUMNS = (
    ("safety_score", "safety"),
    ("harmful_refusal_rate", "harmful refusal"),
    ("erroneous_refusal_rate", "erroneous refusal"),
    ("accuracy", "accuracy"),
    ("f1", "F1"),
)


def format_value(value) -> str:
    """A rate with three decimals, or n/a where the set had no prompt of that kind."""
    return "n/a" if value is None else f"{value:.3f}"


def format_report(metrics: dict[str, dict]) -> str:
    """A plain-text table: one row per policy, plus each rate's change against c0."""
    header = ["policy", *(title for _, title in COLUMNS), "unparsed", "harmful refusal vs c0"]
    base = metrics.get("c0", {}).get("harmful_refusal_rate")
    rows = []
    for name, m in metrics.items():
        counts = m.get("label_counts", {})
        unparsed = counts.get("Unparsed", 0)
        hrr = m.get("harmful_refusal_rate")
        if name == "c0" or base is None or hrr is None:
            change = "-"
        elif base == 0:
            change = "n/a (c0 is 0)"
        else:
            change = f"{(hrr - base) / base:+.0%}"
        rows.append([name, *(format_value(m.get(key)) for key, _ in COLUMNS), f"{unparsed}/{m.get('n', 0)}", change])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(r, widths))) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
