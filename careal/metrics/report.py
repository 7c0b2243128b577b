"""The per-cycle metrics table that ends a pipeline run (``careal report``).

Reads the headline numbers (metrics/cK.json), their 95% intervals (metrics/ci/cK.json, shown
as ``0.956 [0.93, 0.98]``), the paired changes (metrics/ci/changes.json) and, where present, the
breakdowns (metrics/breakdown/cK.json). Every table shows the honest bars: the Safety Score a
policy that refuses everything (refuse-all) or accepts everything (accept-all) would get on the
same eval split, and the discrimination (harmful refusal rate - erroneous refusal rate).
"""

from __future__ import annotations

COLUMNS = (
    ("safety_score", "safety"),
    ("harmful_refusal_rate", "harmful refusal"),
    ("erroneous_refusal_rate", "erroneous refusal"),
    ("discrimination", "discrimination"),
    ("fluency", "fluency"),
    ("accuracy", "accuracy"),
    ("f1", "F1"),
)
#: The columns that carry an interval (careal/metrics/confidence.py CI_METRICS).
INTERVAL_KEYS = ("safety_score", "harmful_refusal_rate", "erroneous_refusal_rate", "discrimination", "fluency")
SIGNIFICANT = "*"

METHOD_GROUP = "by_method"


def format_value(value) -> str:
    """A rate with three decimals, or n/a where the set had no prompt of that kind."""
    return "n/a" if value is None else f"{value:.3f}"


def format_signed(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def format_cell(value, cell: dict | None, signed: bool = False) -> str:
    """``0.956 [0.93, 0.98]``: the value with its 95% interval (two decimals) when ``cell``
    ({value, lo, hi}) has one; the bare value otherwise."""
    text = format_signed(value) if signed else format_value(value)
    if value is None or not cell or cell.get("lo") is None or cell.get("hi") is None:
        return text
    spec = "+.2f" if signed else ".2f"
    return f"{text} [{cell['lo']:{spec}}, {cell['hi']:{spec}}]"


def metric_cell(m: dict, key: str) -> str:
    """A policy's figure as the report prints it: with its interval where metrics/ci has one."""
    signed = key == "discrimination"
    if key in INTERVAL_KEYS:
        return format_cell(m.get(key), (m.get("ci") or {}).get(key), signed)
    return format_signed(m.get(key)) if signed else format_value(m.get(key))


def interval_note(metrics: dict[str, dict]) -> str:
    """One line: how the intervals were made and what they do not cover ('' without any)."""
    ci = next((m["ci"] for m in metrics.values() if m.get("ci")), None)
    if ci is None:
        return ""
    return (f"[lo, hi]: 95% intervals, {ci['resamples']} bootstrap resamples of the {ci['base_prompts']} base prompts ({ci['prompts']} prompts; seed {ci['seed']}).\n"
            "They cover the draw of eval prompts, not the judge's errors or the training seed's draw (careal sweep).")


def change_cell(diff: dict | None) -> str:
    """``+0.228 [+0.19, +0.27] *``: a paired change, its interval, and * when it excludes 0."""
    if not diff or diff.get("value") is None:
        return "n/a"
    text = format_cell(diff["value"], diff, signed=True)
    return f"{text} {SIGNIFICANT}" if diff.get("significant") else f"{text}  "


def changes_table(changes: dict | None, policies: list[str]) -> str:
    """Each policy against c0 and against its parent, on the same prompts: the paired change of
    every interval figure and McNemar's p on the flipped refusals; '' without changes.json."""
    if not changes or not changes.get("policies"):
        return ""
    rows = []
    for name in policies:
        for ref, comparison in (changes["policies"].get(name) or {}).items():
            mc = comparison["mcnemar"]
            rows.append([name, ref, *(change_cell(comparison["difference"].get(k)) for k in INTERVAL_KEYS),
                         f"{mc['harmful']['newly_refused']}/{mc['harmful']['no_longer_refused']} p={mc['harmful']['p']:.3g}",
                         f"{mc['harmless']['newly_refused']}/{mc['harmless']['no_longer_refused']} p={mc['harmless']['p']:.3g}"])
    if not rows:
        return ""
    header = ["policy", "against", *(title for key, title in COLUMNS if key in INTERVAL_KEYS), "flips harmful", "flips harmless"]
    return (f"change on the same prompts (paired bootstrap 95% interval; {SIGNIFICANT} = the interval excludes 0, "
            "otherwise not significant; flips = prompts newly refused / no longer refused, exact McNemar p)\n" + table(header, rows))


def unparsed_count(m: dict) -> int:
    """Unparsed answers of a policy, from label_counts (breakdown) or unparsed_share (headline)."""
    counts = m.get("label_counts")
    if counts is not None:
        return int(counts.get("Unparsed", 0))
    share, n = m.get("unparsed_share"), m.get("n") or 0
    return round(share * n) if share is not None else 0


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


def format_report(metrics: dict[str, dict], breakdowns: dict[str, dict] | None = None, changes: dict | None = None) -> str:
    """A plain-text table: one row per policy with its 95% intervals, the bars, each policy's
    change against c0 and its parent (with ``changes``), and (with breakdowns) the
    discrimination per method and fluency by kind."""
    header = ["policy", *(title for _, title in COLUMNS), "unparsed"]
    rows = [[name, *(metric_cell(m, key) for key, _ in COLUMNS), f"{unparsed_count(m)}/{m.get('n', 0)}"] for name, m in metrics.items()]
    text = table(header, rows) + "\n" + bars_line(metrics)
    note = interval_note(metrics)
    if note:
        text += "\n" + note
    moved = changes_table(changes, list(metrics))
    if moved:
        text += "\n\n" + moved
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


MD_KEYS = (("safety_score", "safety"), ("harmful_refusal_rate", "harmful ref."), ("erroneous_refusal_rate", "erroneous ref."), ("discrimination", "discrim."), ("fluency", "fluency"), ("f1", "F1"))


def against_cell(m: dict, old: dict | None, key: str) -> str:
    """A change against another revision's same policy: ``(+0.120, beyond ±0.05)`` when it is
    larger than the two runs' 95% half-widths combined (careal.metrics.confidence
    .combined_half_width), ``within`` otherwise; the bare change where either lacks intervals."""
    from careal.metrics.confidence import combined_half_width

    value, before = m.get(key), (old or {}).get(key)
    if value is None or before is None:
        return ""
    change = value - before
    width = combined_half_width((m.get("ci") or {}).get(key), ((old or {}).get("ci") or {}).get(key)) if key in INTERVAL_KEYS else None
    if width is None:
        return f" ({change:+.3f})"
    return f" ({change:+.3f}, {'beyond' if abs(change) > width else 'within'} ±{width:.2f})"


def format_markdown(metrics: dict[str, dict], against: dict[str, dict] | None = None, against_name: str = "", changes: dict | None = None) -> str:
    """A compact Markdown summary for a pull-request comment: one row per policy, each number
    with its 95% interval and (against another revision) its change, said to be beyond or
    within the two runs' intervals; then the last policy's paired change against c0."""
    header = ["policy", *(t for _, t in MD_KEYS), "unparsed"]
    lines = []
    if against is not None:
        lines.append(f"careal metrics with 95% intervals; in brackets the change against `{against_name}`, beyond or within the two runs' intervals combined\n")
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for name, m in metrics.items():
        cells = []
        for key, _ in MD_KEYS:
            text = metric_cell(m, key)
            if against is not None:
                text += " (new)" if name not in against else against_cell(m, against[name], key)
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {unparsed_count(m)}/{m.get('n', 0)} |")
    lines.append("")
    lines.append(bars_line(metrics))
    note = interval_note(metrics)
    if note:
        lines.append(note)
    last = list(metrics)[-1]
    paired = ((changes or {}).get("policies") or {}).get(last, {}).get("c0")
    if paired:
        parts = [f"{title} {change_cell(paired['difference'].get(key)).strip()}" for key, title in MD_KEYS if key in INTERVAL_KEYS]
        lines.append(f"\n{last} against c0 on the same prompts ({SIGNIFICANT} beyond its paired 95% interval): " + "; ".join(parts))
    if against is not None:
        gone = [name for name in against if name not in metrics]
        if gone:
            lines.append(f"policies only in `{against_name}`: {', '.join(gone)}")
    return "\n".join(lines)
