"""Knowledge beside behaviour, for ``careal report`` and the HTML page: the probe's held-out AUC
and the discrimination it implies (careal/metrics/probe.py) next to the answers' discrimination
(harmful minus erroneous refusal rate). A large positive gap says the policy knows which
requests are harmful and does not act on it (misaligned behaviour); a low probe AUC says the
knowledge itself is missing. No numpy: it reads the written figures."""

from __future__ import annotations

import json
from pathlib import Path

from careal.layout import METRICS

PROBE_DIR = METRICS / "probe"
TITLE = "knowledge (probe) vs behaviour: what the hidden states tell apart, what the answers do"


def load_probes(policies, root: Path = Path(".")) -> dict[str, dict]:
    """metrics/probe/<policy>.json of each policy that has one with figures."""
    found = {}
    for policy in policies:
        path = root / PROBE_DIR / f"{policy}.json"
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if "by_layer" in data:
                found[policy] = data
    return found


def knowledge_rows(metrics: dict[str, dict], probes: dict[str, dict] | None = None) -> list[dict]:
    """Per policy with a probe figure: probe AUC, its layer, probe and behavioural discrimination, and the gap."""
    rows = []
    for name, m in metrics.items():
        if m.get("probe_auc") is None:
            continue
        probe = (probes or {}).get(name, {})
        behaviour = m.get("discrimination")
        implied = m.get("probe_discrimination")
        rows.append({
            "policy": name,
            "probe_auc": m["probe_auc"],
            "layer": f"{probe['layer']}/{probe['layers'] - 1}" if "layer" in probe else "-",
            "best_eval_auc": probe.get("best_eval_auc"),
            "probe_discrimination": implied,
            "discrimination": behaviour,
            "gap": implied - behaviour if implied is not None and behaviour is not None else None,
        })
    return rows


def knowledge_table(metrics: dict[str, dict], probes: dict[str, dict] | None = None) -> str:
    """The section's text ('' when no policy has probe figures)."""
    rows = knowledge_rows(metrics, probes)
    if not rows:
        return ""
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    signed = lambda v: "-" if v is None else f"{v:+.3f}"
    header = ["policy", "probe AUC", "layer", "best-layer AUC (eval-chosen)", "probe discrimination", "behavioural discrimination", "gap"]
    body = [[r["policy"], fmt(r["probe_auc"]), r["layer"], fmt(r["best_eval_auc"]), signed(r["probe_discrimination"]), signed(r["discrimination"]), signed(r["gap"])] for r in rows]
    widths = [max(len(header[i]), *(len(row[i]) for row in body)) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    text = [TITLE, line(header), line(["-" * w for w in widths]), *(line(row) for row in body)]
    text.append("probe: logistic regression on the hidden state at the last prompt token; layer and threshold chosen on train prompts, AUC and discrimination on the eval split; gap = probe - behavioural discrimination")
    return "\n".join(text)
