"""What the pairing fallbacks change, on a run's own judged answers: the pair stage's output
with pair.fallback_chosen / fallback_rejected off, each alone, and both on (the params'
other pair settings as they are), per cycle. Run from the project root after `dvc repro`.

    python benchmarks/fallback_pairs.py            # every cycle in params.yaml
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml


@click.command()
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--output", type=click.Path(), default=None)
def main(params_path, output):
    from careal.jsonio import read_jsonl
    from careal.params import parse_params
    from careal.preference.pairing import join_judged, make_pairs

    params = parse_params(yaml.safe_load(Path(params_path).read_text(encoding="utf-8")))
    p = params.pair
    prompts = read_jsonl(Path("data/prepared/train.jsonl"))
    report = {}
    click.echo("cycle  fallback_chosen  fallback_rejected  dpo_pairs (harmful / harmless, + repeats)  kto rows (desirable / undesirable)  tied prompts")
    for cycle in params.cycles:
        paths = {"prompts": Path("data/prepared/train.jsonl"), "generations": Path(f"data/cycles/{cycle}/generations.jsonl"), "judgments": Path(f"data/cycles/{cycle}/judgments.jsonl")}
        if not paths["judgments"].exists():
            continue
        items = join_judged(prompts, read_jsonl(paths["generations"]), read_jsonl(paths["judgments"]), paths)
        report[cycle] = {}
        for chosen, rejected in ((False, False), (True, False), (False, True), (True, True)):
            kto, dpo, stats = make_pairs(
                items, p.dpo_max_pairs_per_prompt, p.dpo_balance_harmless, strategy=p.dpo_strategy,
                min_score_margin=p.dpo_min_score_margin, max_text_similarity=p.dpo_max_text_similarity,
                balance_by_method=p.dpo_balance_by_method, seed=params.seed, fallback_chosen=chosen, fallback_rejected=rejected,
            )
            harmful = sum(1 for d in dpo if d["harmful_level"] > 0)
            harmless = sum(1 for d in dpo if d["harmful_level"] == 0 and "repeat" not in d)
            repeats = sum(1 for d in dpo if "repeat" in d)
            desirable = sum(1 for r in kto if r["label"])
            row = {"dpo_pairs": len(dpo), "dpo_harmful": harmful, "dpo_harmless": harmless, "dpo_repeats": repeats,
                   "kto_desirable": desirable, "kto_undesirable": len(kto) - desirable, "tied_prompts": stats["totals"]["tied_prompts"],
                   "fallback_chosen_prompts": stats["totals"]["fallback_chosen"], "fallback_rejected_prompts": stats["totals"]["fallback_rejected"],
                   "label_counts": {}}
            for item in items:
                row["label_counts"][item["label"]] = row["label_counts"].get(item["label"], 0) + 1
            report[cycle][f"chosen={chosen},rejected={rejected}"] = row
            click.echo(f"{cycle:<6} {str(chosen):<16} {str(rejected):<18} {len(dpo):>4} ({harmful} / {harmless}, + {repeats}){'':<22} {desirable} / {len(kto) - desirable}{'':<26} {row['tied_prompts']}")
    if output:
        Path(output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
