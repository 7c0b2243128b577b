"""The stages, as functions from params and paths to outputs (DESIGN.md's contracts).

``careal.cli`` exposes each as a command and ``stages/*.py`` call those commands; nothing here
depends on DVC. Every output is written atomically, and each ``run_*`` stage's outputs form one
set (``careal.outputs``): a stage killed at any point leaves all its old outputs or all new ones.
"""

from __future__ import annotations

from pathlib import Path

from careal.errors import CarealError
from careal.jsonio import atomic_dir, read_jsonl, write_json, write_jsonl
from careal.layout import BREAKDOWN, CHANGES_FILE, EVAL, INTERVALS, JUDGE_PLOTS, METRICS, MODELS, PREPARED, cycle_dir, policy_dir
from careal.outputs import stage_outputs
from careal.params import BUILTIN_MODEL, Params


def write_csv_pairs(path: Path, rows: list[dict]) -> None:
    """A small CSV (header from the first row's keys), written atomically."""
    import csv

    from careal.jsonio import atomic_path

    fields = list(rows[0]) if rows else ["id", "sample", "train_judge", "eval_judge"]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@stage_outputs("prepare")
def run_prepare(params: Params) -> dict:
    from careal.data.split import prepare_splits

    train, validation, evaluation, summary = prepare_splits(params.data, params.seed)
    write_jsonl(PREPARED / "train.jsonl", (r.to_dict() for r in train))
    write_jsonl(PREPARED / "validation.jsonl", (r.to_dict() for r in validation))  # empty with data.validation_size 0 (careal/selection.py)
    write_jsonl(PREPARED / "eval.jsonl", (r.to_dict() for r in evaluation))
    write_json(PREPARED / "summary.json", summary)
    return summary


@stage_outputs("bootstrap")
def run_bootstrap(params: Params) -> dict:
    """models/base (the base model, or where to find it) and models/c0 (the base policy)."""
    from careal.policy.gguf import is_gguf_source
    from careal.policy.loading import BASE_FILE, LINEAGE_FILE, dir_sha256

    base = params.model.base
    with atomic_dir(MODELS / "base") as tmp:
        if base == BUILTIN_MODEL:
            from careal.judges.selftrain import warm_start_task
            from careal.policy.tiny import build_tiny

            train = read_jsonl(PREPARED / "train.jsonl")
            # The tiny policy also learns to label answers, so that it can be the self judge.
            judging = warm_start_task(train, params.bootstrap.judge_examples_per_prompt, params.seed)
            summary = build_tiny(train, params.bootstrap, params.seed, tmp, extra=judging)
            spec = {"model": BUILTIN_MODEL, "weights": "local", "revision": None, "sha256": dir_sha256(tmp), "tiny": summary}
        elif is_gguf_source(base):
            # A GGUF file (builtin:smollm2-135m, gguf:...): converted once into models/base.
            from careal.policy.gguf import convert

            converted = convert(base, tmp)
            spec = {"model": base, "weights": "local", "revision": converted.pop("revision"), "sha256": dir_sha256(tmp), **converted}
        else:
            # A hub id or a local folder: record where it is; the weights stay where they are.
            spec = {"model": base, "weights": "folder" if Path(base).is_dir() else "hub", "revision": params.model.revision, "trust_remote_code": params.model.trust_remote_code}
        write_json(tmp / BASE_FILE, spec)
    with atomic_dir(policy_dir("c0")) as tmp:
        write_json(tmp / LINEAGE_FILE, {"cycle": "c0", "parent": None, "adapter": None, "base_model": spec["model"], "base_revision": spec.get("revision"), "base_sha256": spec.get("sha256"), **({"base_gguf_sha256": spec["gguf"]["file_sha256"]} if "gguf" in spec else {}), "note": "the base policy: the base model with no adapter"})
    return spec


def _generate(params: Params, section, where: str, policy_name: str, prompts: list[dict], decoding, out_path: Path, desc: str) -> tuple[list[dict], dict]:
    """Answers of ``policy_name`` to ``prompts`` with the backend ``section`` (params.generate
    or params.evaluate) names, written to ``out_path``; returns the records and the run's counts."""
    from careal.policy.backends import generate_with

    if section.backend == "hf":
        from careal.policy.resources import guard_generation

        guard_generation(params, MODELS / "base", desc.split(" ")[0], [p["prompt"] for p in prompts], decoding, where)
    policy_record, answers, stats = generate_with(
        section, where, model_params=params.model, base_dir=MODELS / "base", policy=policy_name, policy_dir=policy_dir(policy_name),
        ids=[p["id"] for p in prompts], prompts=[p["prompt"] for p in prompts], decoding=decoding, desc=desc,
    )
    record = decoding.record()
    records = [
        {"id": p["id"], "sample": k, "prompt": p["prompt"], "response": text, "policy": policy_record, "decoding": record}
        for p, texts in zip(prompts, answers)
        for k, text in enumerate(texts)
        if text is not None  # a request that failed for good (openai, on_error: skip) is no answer
    ]
    stats["missing"] = sum(len(texts) for texts in answers) - len(records)
    write_jsonl(out_path, records)
    return records, stats


@stage_outputs("generate")
def run_generate(params: Params, cycle: str) -> dict:
    from careal.policy.generation import Decoding

    parent = params.parent(cycle)
    g = params.generate
    decoding = Decoding(do_sample=True, samples=g.samples, temperature=g.temperature, top_p=g.top_p, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, seed=params.seed, compile=g.compile)
    from careal.data.cycle_prompts import draw_cycle_prompts

    prompts = draw_cycle_prompts(read_jsonl(PREPARED / "train.jsonl"), g.prompts_per_cycle, params.seed, cycle, g.harmless_share)
    records, stats = _generate(params, g, "generate", parent, prompts, decoding, cycle_dir(cycle) / "generations.jsonl", f"generate@{cycle} (policy {parent})")
    return {"answers": len(records), **stats}


def _judge_file(spec, generations_path: Path, out_path: Path, policy: str) -> dict:
    """Label a generations file with a judge; ``policy`` wrote the answers (the self judge's
    model). Returns the label counts plus ``judged`` and ``cache_hits``."""
    from collections import Counter

    from careal.judges import judge_records, make_judge

    judge = make_judge(spec, base_dir=MODELS / "base", policy_dir=policy_dir(policy), policy_name=policy)
    generations = read_jsonl(generations_path)
    stats: dict = {}
    judgments = judge_records(judge, generations, use_cache=spec.cache, stats=stats)
    write_jsonl(out_path, judgments)
    return {**dict(Counter(j["label"] for j in judgments)), **stats}


def run_judge_train(params: Params) -> dict | None:
    """models/judge (the classifier judge: adapter + judge.json) and metrics/judge_train.json;
    trains only when a judge of params.yaml uses it (careal/judges/training.py). Under
    ``accelerate launch`` only rank 0 writes; the other ranks train and return None."""
    from careal.policy.distributed import is_main_process

    if is_main_process():
        return _run_judge_train_outputs(params)
    from careal.judges.training import train_classifier

    train_classifier(params.judge_train, seed=params.seed, prompts=read_jsonl(PREPARED / "train.jsonl"), base_dir=MODELS / "base", out_dir=None)
    return None


@stage_outputs("judge_train")
def _run_judge_train_outputs(params: Params) -> dict:
    from careal.judges.training import classifier_in_use, metrics_headline, train_classifier, write_not_trained

    with atomic_dir(MODELS / "judge") as tmp:
        if classifier_in_use(params):
            info = train_classifier(params.judge_train, seed=params.seed, prompts=read_jsonl(PREPARED / "train.jsonl"), base_dir=MODELS / "base", out_dir=tmp)
        else:
            info = write_not_trained(tmp)
    write_json(METRICS / "judge_train.json", metrics_headline(info))
    return info


@stage_outputs("judge")
def run_judge(params: Params, cycle: str) -> dict:
    parent = params.parent(cycle)
    return _judge_file(params.judge.train, cycle_dir(cycle) / "generations.jsonl", cycle_dir(cycle) / "judgments.jsonl", parent)


@stage_outputs("judge_reliability")
def run_judge_reliability(params: Params, cycle: str) -> dict:
    """metrics/judges/cK.json (the headline), metrics/judges/details/cK.json (the whole report)
    and plots/judges/cK.csv: the training judge's labels of cycle cK's answers (judgments.jsonl)
    against the eval judge's labels of the same answers, and both against gold labels where
    there are any (careal/metrics/judge_reliability.py), and both against a person's reviews
    where reviews/cK-train.jsonl or cK-eval.jsonl holds some (careal/review/gold.py)."""
    from careal.judges import judge_records, make_judge
    from careal.metrics.judge_reliability import gold_labels, reliability_headline, reliability_report
    from careal.review.gold import against_person, human_headline, reviews_of

    parent = params.parent(cycle)
    generations = read_jsonl(cycle_dir(cycle) / "generations.jsonl")
    train = read_jsonl(cycle_dir(cycle) / "judgments.jsonl")
    judge = make_judge(params.judge.eval, base_dir=MODELS / "base", policy_dir=policy_dir(parent), policy_name=parent)
    stats: dict = {}
    evaluated = judge_records(judge, generations, use_cache=params.judge.eval.cache, stats=stats)
    prompts = read_jsonl(PREPARED / "train.jsonl")
    gold = gold_labels(params.judge.gold, params.model.base == BUILTIN_MODEL, generations)
    report, pairs = reliability_report(prompts, generations, train, evaluated, gold, cycle_dir(cycle) / "judgments.jsonl")
    report["eval_judge_run"] = stats
    headline = reliability_headline(report)
    reviewed = reviews_of(cycle)
    if reviewed:  # a person's verdicts (reviews/cK-*.jsonl): both judges label the reviewed texts
        train_judge = make_judge(params.judge.train, base_dir=MODELS / "base", policy_dir=policy_dir(parent), policy_name=parent)
        labels = {answers: {"train": [j["label"] for j in judge_records(train_judge, records, use_cache=params.judge.train.cache)],
                            "eval": [j["label"] for j in judge_records(judge, records, use_cache=params.judge.eval.cache)]}
                  for answers, records in reviewed.items()}
        report["human"] = against_person(cycle, reviewed, labels)
        headline.update(human_headline(report["human"]))
    write_json(METRICS / "judges" / "details" / f"{cycle}.json", report)
    write_json(METRICS / "judges" / f"{cycle}.json", headline)
    write_csv_pairs(JUDGE_PLOTS / f"{cycle}.csv", pairs)
    return report


@stage_outputs("pair")
def run_pair(params: Params, cycle: str) -> dict:
    from careal.preference.pairing import join_judged, make_pairs

    params.parent(cycle)
    paths = {"prompts": PREPARED / "train.jsonl", "generations": cycle_dir(cycle) / "generations.jsonl", "judgments": cycle_dir(cycle) / "judgments.jsonl"}
    items = join_judged(read_jsonl(paths["prompts"]), read_jsonl(paths["generations"]), read_jsonl(paths["judgments"]), paths)
    p = params.pair
    if p.review_overrides:  # the person's label in place of the judge's (reviews/cK-train.jsonl)
        from careal.review.gold import apply_overrides
        from careal.review.store import review_path

        items, overrides = apply_overrides(items, review_path(cycle, "train"))
    kto, dpo, stats = make_pairs(
        items, p.dpo_max_pairs_per_prompt, p.dpo_balance_harmless, strategy=p.dpo_strategy,
        min_score_margin=p.dpo_min_score_margin, max_text_similarity=p.dpo_max_text_similarity,
        balance_by_method=p.dpo_balance_by_method, fluent_chosen=p.fluent_chosen, max_repeat=p.dpo_balance_max_repeat, seed=params.seed,
        fallback_chosen=p.fallback_chosen, fallback_rejected=p.fallback_rejected, fallback_style=p.fallback_style,
    )
    write_jsonl(cycle_dir(cycle) / "kto.jsonl", kto)
    write_jsonl(cycle_dir(cycle) / "dpo.jsonl", dpo)
    if p.review_overrides:
        stats["review_overrides"] = overrides
    write_json(cycle_dir(cycle) / "pair_stats.json", stats)
    return stats


def run_train(params: Params, cycle: str) -> dict | None:
    """models/cK (adapter + lineage.json) and metrics/train/cK. Under ``accelerate launch``
    (train.launcher: accelerate) every process trains; only rank 0 writes, inside the stage's
    output set; the other ranks return None."""
    from careal.policy.distributed import is_main_process

    if is_main_process():
        return _run_train_outputs(params, cycle)
    return _train(params, cycle, None)


def _train(params: Params, cycle: str, out_dir) -> dict | None:
    from careal.launcher import launch_info
    from careal.policy.resources import guard_training
    from careal.preference.training import train_cycle

    parent = params.parent(cycle)
    guard_training(params, MODELS / "base", f"train@{cycle}")
    return train_cycle(
        cycle=cycle, parent=parent, data_dir=cycle_dir(cycle), base_dir=MODELS / "base",
        parent_dir=policy_dir(parent), out_dir=out_dir, train_params=params.train,
        model_params=params.model, seed=params.seed, launcher=launch_info(params.train),
    )


@stage_outputs("train")
def _run_train_outputs(params: Params, cycle: str) -> dict:
    with atomic_dir(policy_dir(cycle)) as tmp:
        lineage = _train(params, cycle, tmp)
    return lineage


@stage_outputs("evaluate")
def run_evaluate(params: Params, policy: str) -> dict:
    from careal.policy.generation import Decoding
    from careal.metrics.confidence import headline_intervals, policy_intervals
    from careal.metrics.scoring import compute_metrics, headline
    from careal.probe import probe_headline

    if policy != "c0":
        params.parent(policy)
    e = params.evaluate
    decoding = Decoding(do_sample=False, samples=1, max_new_tokens=e.max_new_tokens, batch_size=e.batch_size, seed=params.seed, compile=e.compile)
    prompts = read_jsonl(PREPARED / "eval.jsonl")
    out = EVAL / policy
    _, stats = _generate(params, e, "evaluate", policy, prompts, decoding, out / "answers.jsonl", f"evaluate@{policy}")
    if stats["missing"]:
        import sys

        print(f"evaluate@{policy}: {stats['missing']} answer(s) left out after failed requests (evaluate.openai.on_error: skip); the metrics cover the rest", file=sys.stderr)
    _judge_file(params.judge.eval, out / "answers.jsonl", out / "judgments.jsonl", policy)
    items = eval_items(policy)
    metrics = compute_metrics(items)
    metrics.update(probe_headline(params, policy))  # what the hidden states know (careal/probe.py): metrics/probe/<policy>.json
    # How sure each figure is: the groups' intervals go with the breakdown, the overall ones to
    # the small metrics/ci/<policy>.json (careal/metrics/confidence.py).
    metrics["intervals"] = policy_intervals(items, params.seed)
    # Headline numbers are the declared DVC metric; the full breakdown is a plain output.
    write_json(BREAKDOWN / f"{policy}.json", metrics)
    write_json(METRICS / f"{policy}.json", headline(metrics))
    write_json(INTERVALS / f"{policy}.json", headline_intervals(metrics["intervals"]))
    return metrics


def eval_items(policy: str) -> list[dict]:
    """A policy's eval items (prompt fields, answer, label) from data/eval/<policy>/ (a missing
    file is a DataError naming it: run evaluate@<policy> first)."""
    from careal.preference.pairing import join_judged

    out = EVAL / policy
    paths = {"prompts": PREPARED / "eval.jsonl", "generations": out / "answers.jsonl", "judgments": out / "judgments.jsonl"}
    return join_judged(read_jsonl(paths["prompts"]), read_jsonl(paths["generations"]), read_jsonl(paths["judgments"]), paths)


@stage_outputs("summarise")
def run_summarise(params: Params) -> list[str]:
    """Across policies: metrics/plots/*.json for `dvc plots`, and metrics/ci/changes.json, every
    policy against c0 and its parent on the same prompts (paired bootstrap, McNemar)."""
    from careal.metrics.confidence import compare_policies
    from careal.metrics.files import load_breakdowns
    from careal.metrics.summary import write_summary

    policies = params.evaluate.policies
    breakdowns = load_breakdowns(policies)
    missing = [p for p in policies if p not in breakdowns]
    if missing:
        raise CarealError(f"{BREAKDOWN}: no breakdown for {', '.join(missing)} (run their evaluate stage)")
    names = [str(METRICS / "plots" / n) for n in write_summary(breakdowns, METRICS / "plots")]
    parents = {p: params.parent(p) for p in policies if p != "c0"}
    write_json(INTERVALS / CHANGES_FILE, compare_policies({p: eval_items(p) for p in policies}, parents, params.seed))
    return [*names, str(INTERVALS / CHANGES_FILE)]
