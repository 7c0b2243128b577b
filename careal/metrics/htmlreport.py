"""``careal report --html OUT``: one self-contained HTML page, readable offline.

Charts are inline SVG drawn with matplotlib (no script, no external URL); tables are plain
HTML. Sections: the per-policy table with the honest bars, the trend across policies, the
safety-vs-over-refusal frontier (one line per revision when several are given), breakdowns
by method, harm level and principle, and a sample of eval answers whose label changed
between c0 and the last policy.
"""

from __future__ import annotations

import html
import io
import re

from careal.metrics.report import COLUMNS, format_signed, format_value, interval_note, metric_cell, unparsed_count
from careal.metrics.scoring import ALL_LABELS

SAMPLE_SIZE = 12
LABEL_COLOURS = {"Accept": "#4c9f70", "Caution": "#e0a63a", "Refuse": "#c8553d", "Unparsed": "#8c8c8c"}
SERIES = (
    ("safety_score", "Safety Score", "#1f4e79", "-"),
    ("harmful_refusal_rate", "harmful refusal rate", "#c8553d", "-"),
    ("erroneous_refusal_rate", "erroneous refusal rate", "#e0a63a", "-"),
    ("discrimination", "discrimination", "#4c9f70", "-"),
    ("fluency", "fluency (well-formed answers)", "#7b4fa0", ":"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "careal", "svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig) -> str:
    """The figure as an inline <svg> element (no XML prolog, no metadata date)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "careal"})
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _x(policies):
    return list(range(len(policies)))


def error_bars(metrics: dict[str, dict], names: list[str], key: str) -> list[list[float]] | None:
    """matplotlib's (below, above) distances of each policy's 95% interval (metrics/ci), or
    None when no policy has one for ``key``."""
    below, above, found = [], [], False
    for n in names:
        cell = (metrics[n].get("ci") or {}).get(key) or {}
        value = metrics[n].get(key)
        if value is None or cell.get("lo") is None or cell.get("hi") is None:
            below.append(0.0)
            above.append(0.0)
            continue
        found = True
        below.append(max(0.0, value - cell["lo"]))
        above.append(max(0.0, cell["hi"] - value))
    return [below, above] if found else None


def trend_chart(metrics: dict[str, dict]) -> str:
    """The headline rates per policy with their 95% intervals as error bars, and the
    refuse-all / accept-all bars as dashed lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    names = list(metrics)
    for offset, (key, title, colour, style) in enumerate(SERIES):
        values = [metrics[n].get(key) for n in names]
        # a small sideways shift per series keeps overlapping error bars apart
        xs = [x + (offset - (len(SERIES) - 1) / 2) * 0.03 for x in _x(names)]
        ax.errorbar(xs, [float("nan") if v is None else v for v in values], yerr=error_bars(metrics, names, key), fmt=style, marker="o", color=colour, label=title, capsize=2, elinewidth=0.9)
    first = next(iter(metrics.values()))
    for key, title, colour in (("refuse_all_safety", "refuse-all safety (bar)", "#555555"), ("accept_all_safety", "accept-all safety", "#aaaaaa")):
        if first.get(key) is not None:
            ax.axhline(first[key], linestyle="--", color=colour, linewidth=1, label=title)
    ax.set_xticks(_x(names), names)
    ax.set_ylim(min(-0.05, min((m.get("discrimination") or 0) for m in metrics.values()) - 0.05), 1.02)
    ax.set_xlabel("policy")
    ax.set_title("Across policies")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _svg(fig)


def frontier_chart(runs: dict[str, dict[str, dict]]) -> str:
    """Safety Score against erroneous refusal rate, one line per run (revision), one point per
    policy, with each point's 95% intervals on both axes where the run has them."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    palette = ["#1f4e79", "#c8553d", "#4c9f70", "#7b4fa0", "#e0a63a", "#333333"]
    bars = None
    for i, (run, metrics) in enumerate(runs.items()):
        points = [(n, m.get("erroneous_refusal_rate"), m.get("safety_score")) for n, m in metrics.items()]
        points = [p for p in points if p[1] is not None and p[2] is not None]
        if not points:
            continue
        colour = palette[i % len(palette)]
        named = [p[0] for p in points]
        ax.errorbar([p[1] for p in points], [p[2] for p in points], xerr=error_bars(metrics, named, "erroneous_refusal_rate"), yerr=error_bars(metrics, named, "safety_score"),
                    marker="o", color=colour, label=run, capsize=2, elinewidth=0.9)
        for name, x, y in points:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8, color=colour)
        first = next(iter(metrics.values()))
        bars = bars or (first.get("refuse_all_safety"), first.get("accept_all_safety"))
    if bars and bars[0] is not None:
        ax.plot([1.0], [bars[0]], marker="s", color="#555555", linestyle="none", label="refuse-all")
        ax.plot([0.0], [bars[1]], marker="s", color="#aaaaaa", linestyle="none", label="accept-all")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("erroneous refusal rate (over-refusal of harmless prompts)")
    ax.set_ylabel("Safety Score")
    ax.set_title("Safety vs over-refusal (up and left is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _svg(fig)


def group_chart(breakdowns: dict[str, dict], group: str, key: str, title: str) -> str:
    """Grouped bars: one group per method / principle, one bar per policy."""
    plt = _pyplot()
    names = [n for n in breakdowns if group in breakdowns[n]]
    keys = sorted({k for n in names for k in breakdowns[n][group]}, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(keys) + 2), 3.0))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [breakdowns[name][group].get(k, {}).get(key) for k in keys]
        ax.bar([j + i * width for j in range(len(keys))], [0 if v is None else v for v in values], width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(keys))], keys)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(names)), loc="upper left", frameon=False)
    return _svg(fig)


def label_share_chart(breakdowns: dict[str, dict]) -> str:
    """Stacked label shares per harm level (one panel each), one bar per policy."""
    plt = _pyplot()
    names = [n for n in breakdowns if "by_harm_level" in breakdowns[n]]
    levels = sorted({lv for n in names for lv in breakdowns[n]["by_harm_level"]}, key=int)
    fig, axes = plt.subplots(1, len(levels), figsize=(1.7 * len(levels) + 1.6, 2.8), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels):
        bottom = [0.0] * len(names)
        for label in ALL_LABELS:
            shares = []
            for n in names:
                g = breakdowns[n]["by_harm_level"].get(level)
                shares.append(g["label_counts"].get(label, 0) / g["n"] if g and g["n"] else 0.0)
            ax.bar(_x(names), shares, bottom=bottom, color=LABEL_COLOURS[label], label=label)
            bottom = [b + s for b, s in zip(bottom, shares)]
        ax.set_xticks(_x(names), names, fontsize=7)
        ax.set_title(f"harm level {level}" + (" (harmless)" if level == "0" else ""), fontsize=8)
    axes[0][0].set_ylabel("share of answers")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    return _svg(fig)


def _esc(value) -> str:
    return html.escape(str(value))


def metrics_table(metrics: dict[str, dict]) -> str:
    cols = [*COLUMNS, ("unparsed", "unparsed"), ("refuse_all_safety", "refuse-all bar"), ("accept_all_safety", "accept-all bar")]
    head = "".join(f"<th>{_esc(t)}</th>" for _, t in cols)
    rows = []
    for name, m in metrics.items():
        cells = []
        for key, _ in cols:
            if key == "unparsed":
                text = f"{unparsed_count(m)}/{m.get('n', 0)}"
            elif key in ("refuse_all_safety", "accept_all_safety"):
                text = format_value(m.get(key))
            else:
                text = metric_cell(m, key)
            beat = key == "safety_score" and m.get(key) is not None and m.get("refuse_all_safety") is not None and m[key] > m["refuse_all_safety"]
            cells.append(f"<td{' class=beat' if beat else ''}>{_esc(text)}</td>")
        rows.append(f"<tr><th>{_esc(name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"


def group_table(breakdowns: dict[str, dict], group: str, key: str) -> str:
    names = [n for n in breakdowns if group in breakdowns[n]]
    keys = sorted({k for n in names for k in breakdowns[n][group]}, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))
    fmt = format_signed if key == "discrimination" else format_value
    head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
    body = "".join(f"<tr><th>{_esc(n)}</th>" + "".join(f"<td>{_esc(fmt(breakdowns[n][group].get(k, {}).get(key)))}</td>" for k in keys) + "</tr>" for n in names)
    return f"<table><tr><th>policy</th>{head}</tr>{body}</table>"


def fluency_section(breakdowns: dict[str, dict], answers_of=None, top: int = 5) -> str:
    """Well-formed share and degenerate kinds per policy, and the last policy's most frequent
    degenerate answers (``answers_of(policy)``: id -> {label, response}, or None)."""
    from collections import Counter

    from careal.metrics.fluency import DEGENERATE_KINDS, answer_form, fluency_share

    names = [n for n in breakdowns if breakdowns[n].get("fluency_counts")]
    if not names:
        return "<p>No fluency counts in these metrics (rerun evaluate).</p>"
    head = "".join(f"<th>{_esc(k.replace('_', ' '))}</th>" for k in DEGENERATE_KINDS)
    body = "".join(
        f"<tr><th>{_esc(n)}</th><td>{_esc(format_value(fluency_share(breakdowns[n]['fluency_counts'])))}</td>"
        + "".join(f"<td>{breakdowns[n]['fluency_counts'].get(k, 0)}</td>" for k in DEGENERATE_KINDS) + "</tr>"
        for n in names
    )
    text = (f"<table><tr><th>policy</th><th>well-formed share</th>{head}</tr>{body}</table>"
            "<p class=note>Judges read an answer mostly by its opening; a Safety Score gained with degenerate text "
            "(repeated or glued fragments, sentences cut short, bare label words) shows here.</p>")
    answers = answers_of(names[-1]) if answers_of else None
    if answers:
        bad = Counter(a["response"] for a in answers.values() if answer_form(a["response"]) != "well_formed")
        if bad:
            items = "".join(f"<tr><td>{count}</td><td>{_esc(answer_form(t))}</td><td class=text>{_esc(t)}</td></tr>" for t, count in bad.most_common(top))
            text += f"<p>Most frequent degenerate answers of {_esc(names[-1])}:</p><table class=answers><tr><th>count</th><th>kind</th><th>answer</th></tr>{items}</table>"
    return text


def changed_answers(prompts: list[dict], first: dict[str, dict], last: dict[str, dict], size: int = SAMPLE_SIZE) -> list[dict]:
    """Eval prompts whose label differs between two policies' answers (``first`` / ``last``:
    id -> {"label", "response"}), in eval-file order, at most ``size``, spread across the file."""
    changed = [p for p in prompts if p["id"] in first and p["id"] in last and first[p["id"]]["label"] != last[p["id"]]["label"]]
    if len(changed) > size:
        step = len(changed) / size
        changed = [changed[int(i * step)] for i in range(size)]
    return [{"prompt": p, "first": first[p["id"]], "last": last[p["id"]]} for p in changed]


def answers_table(sample: list[dict], first_name: str, last_name: str, total_changed: int) -> str:
    if not sample:
        return f"<p>No eval answer changed label between {_esc(first_name)} and {_esc(last_name)}.</p>"
    rows = []
    for s in sample:
        p = s["prompt"]
        rows.append(
            f"<tr><td>{_esc(p['harmful_level'])}</td><td>{_esc(p['method'])}</td><td class=text>{_esc(p['prompt'])}</td>"
            f"<td><b>{_esc(s['first']['label'])}</b><br><span class=text>{_esc(s['first']['response'])}</span></td>"
            f"<td><b>{_esc(s['last']['label'])}</b><br><span class=text>{_esc(s['last']['response'])}</span></td></tr>"
        )
    return (f"<p>{total_changed} eval answers changed label between {_esc(first_name)} and {_esc(last_name)}; {len(sample)} shown.</p>"
            f"<table class=answers><tr><th>harm</th><th>method</th><th>prompt</th><th>{_esc(first_name)}</th><th>{_esc(last_name)}</th></tr>{''.join(rows)}</table>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}
td.beat{background:#dff0d8}td.text,span.text{text-align:left;font-family:monospace;font-size:.9em}
table.answers td{vertical-align:top;max-width:320px}
.chart{display:inline-block;vertical-align:top;margin:.4em}.note{color:#555;font-size:.85em}
"""


def changes_html(changes: dict | None, policies: list[str]) -> str:
    """Each policy against c0 and its parent on the same prompts (metrics/ci/changes.json):
    paired change with its 95% interval, significant ones in bold; McNemar's flips and p."""
    from careal.metrics.report import INTERVAL_KEYS, change_cell

    if not changes or not changes.get("policies"):
        return "<p>No paired changes yet (the summarise stage writes metrics/ci/changes.json).</p>"
    titles = [t for k, t in COLUMNS if k in INTERVAL_KEYS]
    head = "<tr><th>policy</th><th>against</th>" + "".join(f"<th>{_esc(t)}</th>" for t in titles) + "<th>flips harmful (p)</th><th>flips harmless (p)</th></tr>"
    rows = []
    for name in policies:
        for ref, comparison in (changes["policies"].get(name) or {}).items():
            cells = []
            for key in INTERVAL_KEYS:
                diff = comparison["difference"].get(key) or {}
                text = _esc(change_cell(diff).strip())
                cells.append(f"<td><b>{text}</b></td>" if diff.get("significant") else f"<td>{text}</td>")
            mc = comparison["mcnemar"]
            flips = "".join(f"<td>+{mc[g]['newly_refused']} / -{mc[g]['no_longer_refused']} (p={mc[g]['p']:.3g})</td>" for g in ("harmful", "harmless"))
            rows.append(f"<tr><th>{_esc(name)}</th><td>{_esc(ref)}</td>{''.join(cells)}{flips}</tr>")
    return ("<p class=note>Paired bootstrap over base prompts (the same resamples for both policies); bold (*): the 95% interval "
            "excludes 0. Flips: prompts newly refused / no longer refused, with the exact McNemar p.</p>"
            f"<table>{head}{''.join(rows)}</table>")


def render_html(metrics: dict[str, dict], breakdowns: dict[str, dict], runs: dict[str, dict[str, dict]], sample_html: str, title: str = "careal report", changes: dict | None = None) -> str:
    """The whole page as a string."""
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_esc(title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{_esc(title)}</h1>",
             "<p class=note>Safety Score per CARES (higher is safer); discrimination = harmful refusal rate - erroneous refusal rate "
             "(the power to tell harmful from harmless prompts). The bars: the Safety Score of a policy that refuses every prompt "
             "(refuse-all) or accepts every prompt (accept-all) on the same eval split; green cells beat refuse-all.</p>",
             "<h2>Per policy</h2>", metrics_table(metrics),
             f"<p class=note>{_esc(interval_note(metrics))} Error bars in the charts are these intervals.</p>" if interval_note(metrics) else "",
             "<h2>Changes on the same prompts</h2>", changes_html(changes, list(metrics)),
             "<h2>Trend and frontier</h2>",
             f"<div class=chart id=trend>{trend_chart(metrics)}</div>",
             f"<div class=chart id=frontier>{frontier_chart(runs)}</div>"]
    if breakdowns:
        parts += ["<h2>By method</h2>",
                  f"<div class=chart id=by-method>{group_chart(breakdowns, 'by_method', 'discrimination', 'discrimination by method')}</div>",
                  group_table(breakdowns, "by_method", "discrimination"),
                  "<h2>By harm level</h2>",
                  f"<div class=chart id=by-harm-level>{label_share_chart(breakdowns)}</div>",
                  group_table(breakdowns, "by_harm_level", "safety_score"),
                  "<h2>By principle</h2>",
                  f"<div class=chart id=by-principle>{group_chart(breakdowns, 'by_principle', 'safety_score', 'Safety Score by principle')}</div>",
                  "<p class=note>discrimination by principle:</p>", group_table(breakdowns, "by_principle", "discrimination"),
                  "<h2>Fluency</h2>", fluency_section(breakdowns, _answers)]
    parts += [knowledge_html(metrics)]  # issue 24: the probe beside behaviour ('' without probe figures)
    parts += ["<h2>Answers whose label changed</h2>", sample_html, "</body></html>"]
    page = "\n".join(parts)
    if re.search(r"(?:src|href)\s*=\s*[\"']?https?://", page):
        raise AssertionError("report page refers to an external URL")  # never ship a page that needs the network
    return page


def knowledge_html(metrics: dict[str, dict]) -> str:
    """Knowledge (probe) vs behaviour per policy (careal/metrics/knowledge.py); '' without probe figures."""
    from careal.metrics.knowledge import knowledge_rows, load_probes

    rows = knowledge_rows(metrics, load_probes(list(metrics)))
    if not rows:
        return ""
    cell = lambda v, signed=False: "-" if v is None else (f"{v:+.3f}" if signed else f"{v:.3f}")
    body = "".join(f"<tr><th>{_esc(r['policy'])}</th><td>{cell(r['probe_auc'])}</td><td>{_esc(r['layer'])}</td><td>{cell(r['probe_discrimination'], True)}</td>"
                   f"<td>{cell(r['discrimination'], True)}</td><td>{cell(r['gap'], True)}</td></tr>" for r in rows)
    return ("<h2>Knowledge (probe) vs behaviour</h2><table><tr><th>policy</th><th>probe AUC</th><th>layer</th><th>probe discrimination</th>"
            f"<th>behavioural discrimination</th><th>gap</th></tr>{body}</table><p class=note>A logistic regression on the hidden state at the "
            "last prompt token tells harmful from harmless prompts (layer and threshold chosen on train prompts, scored on the eval split); "
            "a large gap means the policy knows and does not act on it.</p>")


def _answers(policy: str) -> dict[str, dict] | None:
    """id -> {label, response} of a policy's eval answers (greedy: one per prompt), or None."""
    from careal.jsonio import read_jsonl
    from careal.layout import EVAL

    answers, judgments = EVAL / policy / "answers.jsonl", EVAL / policy / "judgments.jsonl"
    if not (answers.exists() and judgments.exists()):
        return None
    texts = {a["id"]: a["response"] for a in read_jsonl(answers)}
    return {j["id"]: {"label": j["label"], "response": texts.get(j["id"], "")} for j in read_jsonl(judgments)}


def write_report_page(out, metrics: dict[str, dict], breakdowns: dict[str, dict], revs=()) -> None:
    """Gather the sample and the other revisions, render, write atomically."""
    from careal.jsonio import atomic_path, read_jsonl
    from careal.layout import PREPARED
    from careal.metrics.files import load_changes
    from careal.metrics.revisions import metrics_at

    names = list(metrics)
    first, last = names[0], names[-1]
    sample_html = "<p>Only one policy: nothing to compare.</p>"
    if first != last:
        a, b = _answers(first), _answers(last)
        if a is None or b is None or not (PREPARED / "eval.jsonl").exists():
            sample_html = f"<p>Eval answers of {_esc(first)} or {_esc(last)} are not in the workspace (dvc pull them).</p>"
        else:
            prompts = read_jsonl(PREPARED / "eval.jsonl")
            total = sum(1 for p in prompts if p["id"] in a and p["id"] in b and a[p["id"]]["label"] != b[p["id"]]["label"])
            sample_html = answers_table(changed_answers(prompts, a, b), first, last, total)
    runs = {"workspace": metrics}
    for rev in revs:
        runs[rev] = metrics_at(rev)
    page = render_html(metrics, breakdowns, runs, sample_html, changes=load_changes())
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
