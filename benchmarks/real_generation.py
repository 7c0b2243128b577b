"""Batched generation against a one-prompt-at-a-time loop on a real model, same prompts, one
run: careal's generate_answers (left padding, length-sorted batches) with ``--batch-size`` N
and with batch size 1, greedy, on real CARES prompts. Prints wall and CPU seconds, new tokens
(up to and including the end-of-turn token), tokens/s, the ratio, and how many answers are
identical.

Run from a project whose models/base holds the model (after `dvc repro` of
docs/recipes/smollm2-135m-cpu.yaml; or `careal bootstrap` with that recipe), e.g.

    OMP_NUM_THREADS=1 python benchmarks/real_generation.py --prompts 16 --batch-size 16
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import click


def _run(policy, prompts, batch_size, max_new_tokens):
    from careal.policy.generation import Decoding, generate_answers

    decoding = Decoding(do_sample=False, samples=1, max_new_tokens=max_new_tokens, batch_size=batch_size, seed=0)
    cpu, wall = time.process_time(), time.perf_counter()
    answers = generate_answers(policy, prompts, decoding, progress_desc=f"batch {batch_size}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokenizer = policy.tokenizer
    tokens = 0
    for (text,) in answers:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        tokens += min(len(ids) + 1, max_new_tokens)  # + the end-of-turn token, when it fit
    return [a[0] for a in answers], {"batch_size": batch_size, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "new_tokens": tokens, "tokens_per_s": round(tokens / wall, 2), "cpu_ms_per_token": round(1000 * cpu / tokens, 1)}


@click.command()
@click.option("--prompts", "n_prompts", default=16, show_default=True, help="Eval prompts (data/prepared/eval.jsonl), spread over harm levels.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--max-new-tokens", default=48, show_default=True)
@click.option("--output", type=click.Path(), default=None)
def main(n_prompts, batch_size, max_new_tokens, output):
    import torch

    from careal.jsonio import read_jsonl
    from careal.policy.loading import load_policy

    rows = read_jsonl(Path("data/prepared/eval.jsonl"))
    by_level = {}
    for r in rows:
        by_level.setdefault(r["harmful_level"], []).append(r)
    picked = []
    while len(picked) < n_prompts and any(by_level.values()):
        for level in sorted(by_level):
            if by_level[level] and len(picked) < n_prompts:
                picked.append(by_level[level].pop(0))
    prompts = [r["prompt"] for r in picked]
    policy = load_policy("models/base", None, device="cpu", dtype="float32")
    batched, b = _run(policy, prompts, batch_size, max_new_tokens)
    alone, a = _run(policy, prompts, 1, max_new_tokens)
    report = {
        "model": json.loads(Path("models/base/base.json").read_text())["model"],
        "prompts": len(prompts),
        "max_new_tokens": max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        "loadavg_after": os.getloadavg(),
        "batched": b,
        "one_at_a_time": a,
        "tokens_per_s_ratio": round(b["tokens_per_s"] / a["tokens_per_s"], 2),
        "cpu_per_token_ratio": round(a["cpu_ms_per_token"] / b["cpu_ms_per_token"], 2),
        "identical_answers": f"{sum(x == y for x, y in zip(batched, alone))}/{len(prompts)}",
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    click.echo(json.dumps(report, indent=2))
    if output:
        Path(output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
