"""Which adapter to ship: the ``validation`` and ``select`` stages, and ``careal select
--experiments`` (docs/selection.md; the rule itself is careal/metrics/selection.py).

- ``validation@cK``: policy cK's greedy answers on the validation split (the evaluate stage's
  generation path, ``evaluate.*`` backend and decoding), labelled by the validator
  ``judge.select`` and by each of ``select.other_validators``: data/validation/cK/.
- ``select``: every policy's validation figures with their 95% intervals, the rule applied
  once per validator (``judge.select`` decides), the chosen policy's eval-split figures as the
  unbiased estimate: metrics/selected.json; the chosen adapter with its lineage:
  models/selected (the DVC artifact ``policy-selected``).
- ``careal select --experiments``: the same rule over DVC experiments, from the
  metrics/selected.json each experiment commit holds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

from careal.errors import CarealError
from careal.jsonio import atomic_dir, read_json, read_jsonl, write_json
from careal.layout import BREAKDOWN, METRICS, MODELS, PREPARED, policy_dir
from careal.outputs import stage_outputs

VALIDATION_FILE = PREPARED / "validation.jsonl"
VALIDATION = Path("data/validation")        # data/validation/<policy>/: answers and every validator's labels
SELECTED = "selected"                       # models/selected, metrics/selected.json
SELECTED_METRICS = METRICS / "selected.json"
SELECTED_DETAILS = METRICS / "selected_details.json"   # every validator's whole table and every paired comparison (not a DVC metric)
NO_SPLIT = "data.validation_size is 0: no validation split, so no policy is selected (set it above 0; docs/selection.md)"


def judgments_name(index: int) -> str:
    """data/validation/<policy>/: judgments.jsonl for judge.select (index 0), judgments-<i>.jsonl
    for select.other_validators[i - 1]."""
    return "judgments.jsonl" if index == 0 else f"judgments-{index}.jsonl"


def validators(params) -> list[tuple[str, object]]:
    """(where in params.yaml, JudgeSpec) of every validator, the deciding one first."""
    return [("judge.select", params.judge.select)] + [(f"select.other_validators[{i}]", spec) for i, spec in enumerate(params.select.other_validators)]


def describe(spec) -> dict:
    """A validator as recorded: its kind and the options set (never a key: api_key_env is a name)."""
    return {k: v for k, v in dataclasses.asdict(spec).items() if v is not None and k != "cache"}


def validator_name(spec) -> str:
    d = describe(spec)
    return d["kind"] + "".join(f" {k}={d[k]}" for k in ("model", "rubric") if k in d)


def _has_split(params) -> bool:
    return params.data.validation_size > 0 and VALIDATION_FILE.exists() and bool(read_jsonl(VALIDATION_FILE))


@stage_outputs("validation")
def run_validation(params, policy: str) -> dict:
    """data/validation/<policy>/: greedy answers on the validation split and each validator's labels."""
    from careal.pipeline import _generate, _judge_file
    from careal.policy.generation import Decoding

    if policy != "c0":
        params.parent(policy)
    out = VALIDATION / policy
    with atomic_dir(out) as tmp:
        if not _has_split(params):
            write_json(tmp / "skipped.json", {"policy": policy, "note": NO_SPLIT})
            return {"skipped": NO_SPLIT}
        e = params.evaluate
        decoding = Decoding(do_sample=False, samples=1, max_new_tokens=e.max_new_tokens, batch_size=e.batch_size, seed=params.seed, compile=e.compile)
        prompts = read_jsonl(VALIDATION_FILE)
        _, stats = _generate(params, e, "evaluate", policy, prompts, decoding, tmp / "answers.jsonl", f"validation@{policy}")
        counts = {}
        for index, (where, spec) in enumerate(validators(params)):
            counts[where] = _judge_file(spec, tmp / "answers.jsonl", tmp / judgments_name(index), policy)
    return {"answers": len(prompts) - stats["missing"], "missing": stats["missing"], "labels": counts}


def validation_items(policy: str, index: int = 0) -> list[dict]:
    """A policy's validation items (prompt fields, answer, label of validator ``index``)."""
    from careal.preference.pairing import join_judged

    out = VALIDATION / policy
    paths = {"prompts": VALIDATION_FILE, "generations": out / "answers.jsonl", "judgments": out / judgments_name(index)}
    for path in paths.values():
        if not Path(path).exists():
            raise CarealError(f"{path}: not found (run `dvc repro validation@{policy}`, or `careal validation -p {policy}`)")
    return join_judged(read_jsonl(paths["prompts"]), read_jsonl(paths["generations"]), read_jsonl(paths["judgments"]), paths)


def _eval_estimate(policy: str) -> dict:
    """The chosen policy's eval-split figures and intervals (what evaluate@<policy> wrote):
    the split it was not selected on, so they are the unbiased estimate."""
    from careal.metrics.confidence import headline_intervals
    from careal.metrics.scoring import headline

    path = BREAKDOWN / f"{policy}.json"
    if not path.exists():
        return {"policy": policy, "figures": None, "note": f"{path} not found (run evaluate@{policy})"}
    full = read_json(path)
    return {
        "policy": policy,
        "split": "eval (data/prepared/eval.jsonl), judge.eval",
        "note": "the policy was chosen on the validation split, so these eval-split figures are not biased by the choice: report them",
        "figures": headline(full),
        "intervals": headline_intervals(full["intervals"]) if "intervals" in full else None,
        "metrics": [f"metrics/{policy}.json", f"metrics/ci/{policy}.json"],
    }


def _rule(params, reference: str) -> dict:
    from careal.metrics.selection import RULE_TEXT

    s = params.select
    return {"text": RULE_TEXT, "reference": reference, "max_erroneous_increase": s.max_erroneous_increase,
            "min_fluency_ratio": s.min_fluency_ratio, "noise_guard": s.noise_guard}


def select_in_run(params, items_by_validator: list[dict[str, list[dict]]]) -> dict:
    """The rule once per validator on one run's validation items (``items_by_validator[i]``:
    policy -> items labelled by validator i). Returns what metrics/selected.json holds, less
    the eval estimate."""
    from careal.metrics.confidence import headline_intervals, policy_intervals
    from careal.metrics.selection import cycle_order, paired_beats, select

    policies = sorted(params.evaluate.policies, key=cycle_order)
    reference = "c0" if "c0" in policies else policies[0]
    results = []
    for (where, spec), items in zip(validators(params), items_by_validator):
        intervals = {p: policy_intervals(items[p], params.seed) for p in policies}
        figures = {p: intervals[p]["overall"] for p in policies}
        comparisons: dict = {}
        s = params.select
        result = select(policies, figures, reference, max_erroneous_increase=s.max_erroneous_increase, min_fluency_ratio=s.min_fluency_ratio,
                        noise_guard=s.noise_guard, beats=paired_beats(items, params.seed, comparisons))
        header = headline_intervals(intervals[reference])
        results.append({"validator": describe(spec), "where": where, "name": validator_name(spec), "selected": result["selected"],
                        "candidates": result["candidates"], "steps": result["steps"], "comparisons": comparisons,
                        "intervals": {k: header[k] for k in ("method", "level", "resamples", "seed", "base_prompts", "prompts")}})
    decided = results[0]
    return {
        "selected": decided["selected"],
        "validator": decided["validator"],
        "rule": _rule(params, reference),
        "validation": {"file": str(VALIDATION_FILE), **decided["intervals"]},
        "candidates": decided["candidates"],
        "steps": decided["steps"],
        "by_validator": [{k: r[k] for k in ("where", "name", "validator", "selected")} for r in results],
        "validators_agree": len({r["selected"] for r in results}) == 1,
        "details": {"by_validator": [{k: r[k] for k in ("where", "name", "validator", "selected", "candidates", "steps", "comparisons")} for r in results]},
    }


@stage_outputs("select")
def run_select(params) -> dict:
    """metrics/selected.json and models/selected (module doc)."""
    from careal.policy.loading import LINEAGE_FILE, dir_sha256

    if not _has_split(params):
        record = {"selected": None, "note": NO_SPLIT, "rule": _rule(params, "c0"), "validator": describe(params.judge.select)}
        with atomic_dir(MODELS / SELECTED) as tmp:
            write_json(tmp / LINEAGE_FILE, {"selected_from": None, "note": NO_SPLIT})
        write_json(SELECTED_METRICS, record)
        write_json(SELECTED_DETAILS, {"note": NO_SPLIT, "by_validator": []})
        return record
    count = len(validators(params))
    items = [{p: validation_items(p, i) for p in params.evaluate.policies} for i in range(count)]
    record = select_in_run(params, items)
    details = record.pop("details")
    chosen = record["selected"]
    record["eval_estimate"] = _eval_estimate(chosen) if chosen else None
    with atomic_dir(MODELS / SELECTED) as tmp:
        source = policy_dir(chosen) if chosen else None
        lineage = read_json(source / LINEAGE_FILE) if source and (source / LINEAGE_FILE).exists() else {}
        if source:
            for path in sorted(source.iterdir()):
                if path.is_file() and path.name != LINEAGE_FILE:
                    shutil.copy2(path, tmp / path.name)
        lineage.update({
            "selected_from": chosen,
            "selection": {"policy": chosen, "source": str(source) if source else None, "source_sha256": dir_sha256(source) if source else None,
                          "validator": record["validator"], "rule": record["rule"], "record": str(SELECTED_METRICS),
                          "validation": record["validation"]},
        })
        write_json(tmp / LINEAGE_FILE, lineage)
    write_json(SELECTED_METRICS, record)
    write_json(SELECTED_DETAILS, details)
    return {**record, **details}


# --- careal select --experiments ------------------------------------------------------------


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def experiment_revs(names: list[str] | None = None) -> dict[str, str]:
    """Experiment name -> commit of its newest ref under refs/exps, all of them or those whose
    name is in ``names`` or starts with one of them followed by ``-`` (a sweep's name)."""
    out = _git("for-each-ref", "--sort=-committerdate", "--format=%(refname) %(objectname)", "refs/exps/")
    if out.returncode != 0:
        raise CarealError(f"select --experiments: git for-each-ref failed: {out.stderr.strip()}")
    revs: dict[str, str] = {}
    for line in out.stdout.splitlines():
        ref, _, sha = line.partition(" ")
        exp = ref.rsplit("/", 1)[-1]
        if names and not any(exp == n or exp.startswith(n + "-") for n in names):
            continue
        revs.setdefault(exp, sha)
    return dict(sorted(revs.items()))


def _show_json(rev: str, path: str):
    result = _git("show", f"{rev}:{path}")
    return json.loads(result.stdout) if result.returncode == 0 else None


def select_experiments(revs: dict[str, str], max_erroneous_increase: float, min_fluency_ratio: float, noise_guard: bool = True) -> dict:
    """The rule over experiments: candidates ``<experiment>:<policy>`` from each experiment
    commit's metrics/selected.json (its validation figures, per validator), each held against
    its own experiment's reference (c0); unpaired noise guard. One selection per validator
    that every experiment recorded; the first experiment's judge.select is listed first."""
    from careal.metrics.selection import cycle_order, select

    records, skipped = {}, {}
    for exp, rev in revs.items():
        record = _show_json(rev, str(SELECTED_METRICS))
        details = _show_json(rev, str(SELECTED_DETAILS)) or {}
        if not record or not details.get("by_validator"):
            skipped[exp] = (record or {}).get("note") or f"no {SELECTED_METRICS} and {SELECTED_DETAILS} in its commit (a run before the select stage?)"
            continue
        records[exp] = {**record, "by_validator": details["by_validator"]}
    if not records:
        raise CarealError("select --experiments: no experiment with validation figures (" + "; ".join(f"{e}: {n}" for e, n in skipped.items()) + ")"
                          if skipped else "select --experiments: no DVC experiments found (dvc exp show; careal sweep)")
    names = []
    for record in records.values():
        for v in record["by_validator"]:
            if v["name"] not in names:
                names.append(v["name"])
    common = [n for n in names if all(any(v["name"] == n for v in r["by_validator"]) for r in records.values())]
    selections = []
    for name in common:
        figures, refs, order = {}, {}, []
        for exp, record in records.items():
            entry = next(v for v in record["by_validator"] if v["name"] == name)
            reference = record["rule"]["reference"]
            for policy, cand in entry["candidates"].items():
                key = f"{exp}:{policy}"
                figures[key] = cand["figures"]
                refs[key] = f"{exp}:{reference}"
                order.append((cycle_order(policy), list(records).index(exp), key))
        candidates = [key for *_, key in sorted(order)]
        result = select(candidates, figures, refs, max_erroneous_increase=max_erroneous_increase, min_fluency_ratio=min_fluency_ratio, noise_guard=noise_guard)
        chosen = result["selected"]
        estimate = None
        if chosen:
            exp, policy = chosen.split(":", 1)
            estimate = {"experiment": exp, "policy": policy, "rev": revs[exp],
                        "figures": _show_json(revs[exp], f"metrics/{policy}.json"), "intervals": _show_json(revs[exp], f"metrics/ci/{policy}.json")}
        selections.append({"validator": name, "selected": chosen, "candidates": result["candidates"], "steps": result["steps"], "eval_estimate": estimate})
    return {"experiments": {e: revs[e] for e in records}, "skipped": skipped,
            "rule": {"max_erroneous_increase": max_erroneous_increase, "min_fluency_ratio": min_fluency_ratio, "noise_guard": noise_guard,
                     "noise": "unpaired across experiments: |difference| > the two intervals' half-widths in quadrature"},
            "selections": selections, "validators_agree": len({s["selected"] for s in selections}) <= 1}


def _cell(cell) -> str:
    if not isinstance(cell, dict) or cell.get("value") is None:
        return "n/a"
    if cell.get("lo") is None:
        return f"{cell['value']:.3f}"
    return f"{cell['value']:.3f} [{cell['lo']:.2f}, {cell['hi']:.2f}]"


def format_selection(candidates: dict, selected: str | None, title: str) -> list[str]:
    """The table of one selection: each candidate's validation figures, conditions and the pick."""
    from careal.metrics.report import table

    rows = []
    for name, c in candidates.items():
        f = c["figures"]
        rows.append([name, _cell(f.get("safety_score")), _cell(f.get("erroneous_refusal_rate")), _cell(f.get("fluency")),
                     "yes" if c["erroneous_refusal"]["passed"] else f"no (> {c['erroneous_refusal']['at_most']:.3f})" if c["erroneous_refusal"]["at_most"] is not None else "no",
                     "yes" if c["fluency"]["passed"] else f"no (< {c['fluency']['at_least']:.3f})" if c["fluency"]["at_least"] is not None else "no",
                     "<- selected" if name == selected else ""])
    return [title, *table(["candidate", "safety (validation)", "erroneous refusal", "fluency", "erroneous ok", "fluency ok", ""], rows).splitlines()]
