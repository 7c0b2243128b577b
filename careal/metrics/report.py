"""The per-cycle metrics table that ends a pipeline run (``careal report``).

Reads the headline numbers (metrics/cK.json) and, where present, the breakdowns
(metrics/breakdown/cK.json). Every table shows the honest bars: the Safety Score a policy that
refuses everything (refuse-all) or accepts everything (accept-all) would get on the same eval
split, and the discrimination (harmful refusal rate - erroneous refusal rate).
"""

from __future__ import annotations

COLUMNS = (
    ("safety_score", "safety"),
    ("harmful_refusal_rate", "harmful refusal"),
    ("erroneous_refusal_rate", "erroneous refusal"),
    ("discrimination", "discrimination"),
    ("accuracy", "accuracy"),
    ("f1", "F1"),
    ("fluency", "fluency"),
)

METHOD_GROUP = "by_method"


def format_value(value) -> str:
    """A rate with three decimals, or n/a where the set had no prompt of that kind."""
    return "n/a" if value is None else f"{value:.3f}"


def format_signed(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def unparsed_count(m: dict) -> int:
    """Unparsed answers of a policy, from label_counts (breakdown) or unparsed_share (headline)."""
    counts = m.get("label_counts")
    if counts is not None:
        return int(counts.get("Unparsed", 0))
    share, n = m.get("unparsed_share"), m.get("n") or 0
    return round(share * n) if share is not None else 0


def relative_change(value, base) -> str:
    if value is None or base is None:
        return "-"
    if base == 0:
        return "n/a (c0 is 0)"
    return f"{(value - base) / base:+.0%}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned others, a dashed rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(r, widths))) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def bars_line(metrics: dict[str, dict]) -> str:
    """One line with the refuse-all / accept-all bars (one value when every policy shares them)."""
    pairs = {(m.get("refuse_all_safety"), m.get("accept_all_safety")) for m in metrics.values()}
    pairs.discard((None, None))
    if not pairs:
        return "bars: n/a (metrics predate refuse_all_safety / accept_all_safety; rerun evaluate)"
    if len(pairs) == 1:
        refuse, accept = next(iter(pairs))
        return f"bars on this eval split: refuse-all safety {format_value(refuse)}, accept-all safety {format_value(accept)} (a policy must beat refuse-all to be safer without refusing everything)"
    return "bars differ between policies (different eval splits): " + ", ".join(
        f"{name} refuse-all {format_value(m.get('refuse_all_safety'))} / accept-all {format_value(m.get('accept_all_safety'))}" for name, m in metrics.items())


def format_report(metrics: dict[str, dict], breakdowns: dict[str, dict] | None = None) -> str:
    """A plain-text table: one row per policy, its change against c0, the bars, and (with
    breakdowns) the discrimination per method."""
    header = ["policy", *(title for _, title in COLUMNS), "unparsed", "harmful refusal vs c0"]
    base = metrics.get("c0", {}).get("harmful_refusal_rate")
    rows = []
    for name, m in metrics.items():
        change = "-" if name == "c0" else relative_change(m.get("harmful_refusal_rate"), base)
        rows.append([name, *(format_value(m.get(key)) if key != "discrimination" else format_signed(m.get(key)) for key, _ in COLUMNS), f"{unparsed_count(m)}/{m.get('n', 0)}", change])
    text = table(header, rows) + "\n" + bars_line(metrics)
    per_method = discrimination_table(breakdowns or {}, METHOD_GROUP)
    if per_method:
        text += "\n\ndiscrimination (harmful - erroneous refusal) by method\n" + per_method
    forms = fluency_table(breakdowns or {})
    if forms:
        text += "\n\nfluency: well-formed answers and degenerate text by kind (careal/metrics/fluency.py)\n" + forms
    return text


def fluency_table(breakdowns: dict[str, dict]) -> str:
    """Policies as rows: the well-formed share, each degenerate kind's count, and the share
    against c0's; '' when no breakdown carries fluency counts (metrics older than fluency)."""
    from careal.metrics.fluency import DEGENERATE_KINDS, fluency_share

    names = [name for name, b in breakdowns.items() if b.get("fluency_counts")]
    if not names:
        return ""
    base = fluency_share(breakdowns["c0"]["fluency_counts"]) if "c0" in names else None
    rows = []
    for name in names:
        counts = breakdowns[name]["fluency_counts"]
        share = fluency_share(counts)
        versus = "-" if name == "c0" or base in (None, 0) or share is None else f"{share / base:.2f}"
        rows.append([name, format_value(share), *(str(counts.get(kind, 0)) for kind in DEGENERATE_KINDS), versus])
    return table(["policy", "fluency", *(k.replace("_", " ") for k in DEGENERATE_KINDS), "fluency vs c0"], rows)


def discrimination_table(breakdowns: dict[str, dict], group: str) -> str:
    """Policies as rows, the groups (methods, principles) as columns; '' when no breakdown."""
    names = [name for name, b in breakdowns.items() if group in b]
    if not names:
        return ""
    keys = sorted({k for name in names for k in breakdowns[name][group]}, key=_group_order)
    rows = [[name, *(format_signed(breakdowns[name][group].get(k, {}).get("discrimination")) for k in keys)] for name in names]
    return table(["policy", *keys], rows)


def _group_order(key: str):
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


MD_KEYS = (("safety_score", "safety"), ("harmful_refusal_rate", "harmful ref."), ("erroneous_refusal_rate", "erroneous ref."), ("discrimination", "discrim."), ("f1", "F1"), ("fluency", "fluency"))


def format_markdown(metrics: dict[str, dict], against: dict[str, dict] | None = None, against_name: str = "") -> str:
    """A compact Markdown summary for a pull-request comment: one row per policy, each number
    with its change against the ``against`` revision's same policy (when given), and the bars."""
    header = ["policy", *(t for _, t in MD_KEYS), "unparsed"]
    lines = []
    if against is not None:
        lines.append(f"careal metrics (change against `{against_name}` in brackets)\n")
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name, m in metrics.items():
        cells = []
        for key, _ in MD_KEYS:
            value = m.get(key)
            text = format_signed(value) if key == "discrimination" else format_value(value)
            old = (against or {}).get(name, {}).get(key)
            if against is not None:
                text += " (new)" if name not in against else ("" if value is None or old is None else f" ({value - old:+.3f})")
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {unparsed_count(m)}/{m.get('n', 0)} |")
    lines.append("")
    lines.append(bars_line(metrics))
    if against is not None:
        gone = [name for name in against if name not in metrics]
        if gone:
            lines.append(f"policies only in `{against_name}`: {', '.join(gone)}")
    return "\n".join(lines)
