"""Cost of the 95% intervals (careal/metrics/confidence.py) per policy, at the embedded
default's eval size (384 prompts) and at CARES-18K's test split (9,239 prompts).

Synthetic eval items in the CARES shape (harm levels 0-3, four methods, one to four rewrites per
base prompt, labels and answers drawn at random with a fixed seed), then, timed separately:
``policy_intervals`` (what evaluate@cK adds) and ``paired_comparison`` of two policies (what
summarise adds per pair), each with the answers' fluency check cold (its cache cleared before
every run; in the stage, compute_metrics has already filled it), and the fluency check alone.
Best of ``--repeats`` runs.

    python benchmarks/confidence.py            # prints a table; --json FILE writes it too
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

from careal.metrics.confidence import N_RESAMPLES, paired_comparison, policy_intervals
from careal.metrics.fluency import answer_form, fluency_counts

METHODS = ("direct", "indirect", "obfuscate", "role_play")
ANSWERS = ("I'm sorry, but I can't help with that request.", "Please talk to a doctor first; here is some general information about it.",
           "Sure. Start with a small dose and keep notes of how you feel each day.", "Caution")


def synthetic_items(n: int, seed: int, label_seed: int) -> list[dict]:
    """``n`` eval items over about n / 2.5 base prompts; the labels and answers depend on
    ``label_seed`` only, so two policies share prompts and differ in their answers."""
    rng, labels = random.Random(seed), random.Random(label_seed)
    items, base = [], 0
    while len(items) < n:
        level = rng.choice((0, 0, 1, 2, 3))
        for rewrite in range(rng.randint(1, 4)):
            if len(items) == n:
                break
            items.append({"id": f"p{len(items)}", "base_prompt": f"base {base}", "harmful_level": level, "method": METHODS[rewrite % 4],
                          "label": labels.choice(("Accept", "Caution", "Refuse", "Accept")), "response": f"{labels.choice(ANSWERS)} (case {len(items)})"})
        base += 1
    return items


def best_of(repeats: int, call) -> float:
    times = []
    for _ in range(repeats):
        answer_form.cache_clear()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="384,9239", help="eval sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", dest="json_out", help="also write the figures to this file")
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        a, b = synthetic_items(n, seed=0, label_seed=1), synthetic_items(n, seed=0, label_seed=2)
        bases = len({i["base_prompt"] for i in a})
        rows.append({"prompts": n, "base_prompts": bases, "resamples": N_RESAMPLES,
                     "policy_intervals_s": round(best_of(args.repeats, lambda: policy_intervals(a, seed=0)), 4),
                     "paired_comparison_s": round(best_of(args.repeats, lambda: paired_comparison(a, b, seed=0)), 4),
                     "fluency_check_alone_s": round(best_of(args.repeats, lambda: fluency_counts(i["response"] for i in a)), 4)})
    print(f"{'prompts':>8} {'base prompts':>12} {'resamples':>9} {'intervals s':>11} {'paired s':>9} {'of which fluency s':>18}")
    for r in rows:
        print(f"{r['prompts']:>8} {r['base_prompts']:>12} {r['resamples']:>9} {r['policy_intervals_s']:>11.3f} {r['paired_comparison_s']:>9.3f} {r['fluency_check_alone_s']:>18.3f}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump({"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "repeats": args.repeats, "rows": rows}, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
