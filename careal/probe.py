"""The knowledge probe of one policy (issue 24): what its hidden states know about harm, beside
what its answers do. Run by the evaluate stage (``evaluate.probe``); writes metrics/probe/<policy>.json.

Train prompts: a seeded draw of ``evaluate.probe_train_prompts`` from data/prepared/train.jsonl
(stratified by harm level x method, the same draw for every policy, so policies are compared on
the same prompts); eval prompts: the whole eval split. Features: careal/policy/probe_features.py
(torch); the regression, the layer and threshold choice and the AUC: careal/metrics/probe.py
(numpy). The policy is loaded locally from models/ whatever backend generated its answers.
"""

from __future__ import annotations

import time
from pathlib import Path

from careal.jsonio import read_jsonl, write_json
from careal.layout import METRICS, MODELS, PREPARED, policy_dir

PROBE = METRICS / "probe"
PROBE_DRAW = "probe"  # the draw's name (careal/data/cycle_prompts.py seeds it by seed and name)


def probe_policy(params, policy: str, root: Path = Path(".")) -> dict:
    """Features of ``policy`` on the probe's train and eval prompts, then the probe report."""
    from careal.data.cycle_prompts import draw_cycle_prompts
    from careal.metrics.probe import probe_report
    from careal.policy.loading import load_policy
    from careal.policy.probe_features import last_prompt_token_states

    e = params.evaluate
    train = draw_cycle_prompts(read_jsonl(root / PREPARED / "train.jsonl"), e.probe_train_prompts, params.seed, PROBE_DRAW)
    evaluation = read_jsonl(root / PREPARED / "eval.jsonl")
    start, cpu = time.perf_counter(), time.process_time()
    loaded = load_policy(root / MODELS / "base", root / policy_dir(policy), device=params.model.device, dtype=params.model.dtype)
    x_train = last_prompt_token_states(loaded, [p["prompt"] for p in train], e.probe_batch_size)
    x_eval = last_prompt_token_states(loaded, [p["prompt"] for p in evaluation], e.probe_batch_size)
    features_s, features_cpu = time.perf_counter() - start, time.process_time() - cpu
    del loaded
    start, cpu = time.perf_counter(), time.process_time()
    report = probe_report(
        x_train, [int(p["harmful_level"]) >= 1 for p in train], [p.get("base_prompt", p["id"]) for p in train],
        x_eval, [int(p["harmful_level"]) >= 1 for p in evaluation], l2=e.probe_l2, folds=e.probe_folds, seed=params.seed,
    )
    fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    cost = {"features_wall_s": round(features_s, 1), "features_cpu_s": round(features_cpu, 1), "fit_wall_s": round(fit_s, 1), "fit_cpu_s": round(fit_cpu, 1)}
    return {"policy": policy, **report, "cost": cost}


def write_probe(params, policy: str, root: Path = Path(".")) -> dict:
    """probe_policy, written to metrics/probe/<policy>.json; the timings are printed, not written
    (the file stays the same bytes from run to run)."""
    import sys

    report = probe_policy(params, policy, root)
    cost = report.pop("cost")
    print(f"probe@{policy}: AUC {report['probe_auc']} at layer {report['layer']} of {report['layers'] - 1}, discrimination {report['probe_discrimination']}; features {cost['features_wall_s']} s wall / {cost['features_cpu_s']} s CPU, fit {cost['fit_wall_s']} s", file=sys.stderr)
    write_json(root / PROBE / f"{policy}.json", report)
    return report


def probe_headline(params, policy: str, root: Path = Path(".")) -> dict:
    """The evaluate stage's part: with ``evaluate.probe`` on, the probe (metrics/probe/<policy>.json)
    and its two headline figures; off, a file that says so and None for both."""
    if not params.evaluate.probe:
        write_json(root / PROBE / f"{policy}.json", {"policy": policy, "probe": "off (evaluate.probe: false)"})
        return {"probe_auc": None, "probe_discrimination": None}
    report = write_probe(params, policy, root)
    return {"probe_auc": report["probe_auc"], "probe_discrimination": report["probe_discrimination"]}
