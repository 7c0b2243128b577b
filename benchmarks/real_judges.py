"""Self-evaluation on a real model: can the policy judge itself? Run after `dvc repro` of a
recipe with a real base model (docs/recipes/smollm2-135m-cpu.yaml), from the project root.

For each evaluated policy P (evaluate.policies), three judges label P's greedy eval answers
(data/eval/P/answers.jsonl), which the run's evaluation judge (rules) already labelled:

- ``self``: policy P itself (base + P's adapter), label scoring with the ``cares`` rubric;
- ``hf``: the base model (models/base) with the same rubric, fixed for every P (for c0 it is
  the same model as self, so it is not run twice);
- ``rules``: the run's own labels (data/eval/P/judgments.jsonl).

It prints, per policy: each model judge's agreement and Cohen's kappa with the rules judge, its
label counts, its Unparsed share, the mean probability it puts on the label words
(``label_mass``), how many verdicts careal's earlier margin rule (a lead of 0.1 in raw
probability, applied to the whole-word figures) would leave Unparsed; and each judge's
accuracy on careal's labelled answers
(benchmarks/data/judge_labelled_answers.jsonl, 181 answers to CARES-style prompts, labelled by
hand: self(P) per policy, hf once, rules once).

    python benchmarks/real_judges.py --output metrics/real_judges.json
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import click
import yaml

GOLD = Path(__file__).resolve().parent / "data" / "judge_labelled_answers.jsonl"


def _old_rule_unparsed(raws: list[dict]) -> int:
    """Verdicts that careal's earlier margin rule would leave Unparsed: a lead under 0.1 in
    raw probability, here applied to the whole-word probabilities (the earlier rule scored
    first tokens only, whose probabilities are at least these)."""
    count = 0
    for raw in raws:
        ranked = sorted(raw["probabilities"].values(), reverse=True)
        count += (ranked[0] - ranked[1]) < 0.1
    return count


def _summary(labels: list[str], raws: list[dict], rules: list[str] | None) -> dict:
    from careal.metrics.reliability import agreement, cohen_kappa

    n = len(labels)
    out = {
        "n": n,
        "label_counts": dict(sorted(Counter(labels).items())),
        "unparsed_share": round(labels.count("Unparsed") / n, 4),
        "mean_label_mass": round(sum(r["label_mass"] for r in raws) / n, 4),
        "unparsed_under_raw_margin_0.1": _old_rule_unparsed(raws),
    }
    if rules is not None:
        out["agreement_with_rules"] = round(agreement(labels, rules), 4)
        kappa = cohen_kappa(labels, rules)
        out["kappa_with_rules"] = None if kappa is None else round(kappa, 4)
    return out


def _gold(labels: list[str], gold: list[str]) -> dict:
    from careal.metrics.reliability import against_gold

    g = against_gold(labels, gold)
    return {"accuracy": round(g["accuracy"], 4), "macro_f1": round(g["macro_f1"], 4), "kappa": None if g["kappa"] is None else round(g["kappa"], 4), "n": g["n"]}


@click.command()
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--rubric", default="cares", show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--policies", default=None, help="Comma-separated policies (default: evaluate.policies).")
@click.option("--output", type=click.Path(), default=None, help="Write the figures as JSON here.")
def main(params_path, rubric, batch_size, policies, output):
    from careal.jsonio import read_jsonl
    from careal.judges import judge_pairs, make_judge
    from careal.judges.rules import RulesJudge
    from careal.params import JudgeSpec, parse_params

    params = parse_params(yaml.safe_load(Path(params_path).read_text(encoding="utf-8")))
    gold_rows = read_jsonl(GOLD)
    gold_pairs = [(r["prompt"], r["response"]) for r in gold_rows]
    gold = [r["label"] for r in gold_rows]
    spec = JudgeSpec(kind="self", rubric=rubric, batch_size=batch_size, device="cpu", dtype="float32")
    hf_spec = JudgeSpec(kind="hf", model="models/base", rubric=rubric, batch_size=batch_size, device="cpu", dtype="float32")
    report = {"rubric": rubric, "policies": {}, "gold_set": {"file": "benchmarks/data/judge_labelled_answers.jsonl", "n": len(gold), "labels": dict(sorted(Counter(gold).items()))}}
    rules_gold = [label for label, _ in RulesJudge().label_batch(gold_pairs)]
    report["gold_set"]["rules"] = _gold(rules_gold, gold)
    hf = make_judge(hf_spec)
    for policy in policies.split(",") if policies else params.evaluate.policies:
        answers = read_jsonl(Path("data/eval") / policy / "answers.jsonl")
        rules = [j["label"] for j in read_jsonl(Path("data/eval") / policy / "judgments.jsonl")]
        pairs = [(a["prompt"], a["response"]) for a in answers]
        start = time.perf_counter()
        judge = make_judge(spec, base_dir=Path("models/base"), policy_dir=Path("models") / policy, policy_name=policy)
        own = judge_pairs(judge, pairs, use_cache=False)
        own_gold = judge_pairs(judge, gold_pairs, use_cache=False)
        entry = {
            "self_on_own_answers": _summary([l for l, _ in own], [r for _, r in own], rules),
            "self_on_gold": _gold([l for l, _ in own_gold], gold) | {"unparsed_share": round(sum(l == "Unparsed" for l, _ in own_gold) / len(gold), 4),
                                                                     "label_counts": dict(sorted(Counter(l for l, _ in own_gold).items()))},
            "rules_label_counts": dict(sorted(Counter(rules).items())),
        }
        if policy != "c0":  # for c0, hf (the base) is the same model as self
            judged = judge_pairs(hf, pairs, use_cache=False)
            entry["hf_on_answers"] = _summary([l for l, _ in judged], [r for _, r in judged], rules)
        else:
            entry["hf_on_answers"] = entry["self_on_own_answers"]
            report["gold_set"]["hf"] = entry["self_on_gold"]
        entry["seconds"] = round(time.perf_counter() - start, 1)
        report["policies"][policy] = entry
        click.echo(f"{policy}: {json.dumps(entry)}", err=True)
        del judge
    click.echo(f"\nrubric {rubric}; the run's answers: the policy's greedy eval answers; rules = the run's evaluation judge")
    click.echo("policy  judge  agreement  kappa   unparsed  label_mass  raw-margin unparsed  labels                          gold acc  gold macro-F1")
    for policy, e in report["policies"].items():
        for name, key, gold_key in (("self", "self_on_own_answers", "self_on_gold"), ("hf", "hf_on_answers", None)):
            s = e[key]
            g = e[gold_key] if gold_key else report["gold_set"].get("hf", {"accuracy": float("nan"), "macro_f1": float("nan")})
            click.echo(f"{policy:<7} {name:<6} {s['agreement_with_rules']:>9.3f}  {s['kappa_with_rules'] if s['kappa_with_rules'] is not None else float('nan'):>6.3f}  {s['unparsed_share']:>8.3f}  {s['mean_label_mass']:>10.3f}  {s['unparsed_under_raw_margin_0.1']:>6}/{s['n']:<13} {json.dumps(s['label_counts']):<31} {g['accuracy']:>8.3f}  {g['macro_f1']:>12.3f}")
    r = report["gold_set"]["rules"]
    click.echo(f"rules on the labelled answers: accuracy {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f} (n {r['n']}, labels {report['gold_set']['labels']})")
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
