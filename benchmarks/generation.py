"""Side-by-side benchmark of batched generation: length-sorted batches (careal's default)
against batches in input order, on the same policy, prompts and settings, in one run.

Reports ratios (sorted / unsorted) of wall time, padded prompt tokens and peak resident
memory growth, and checks that both give the same greedy answers.

    python benchmarks/generation.py                 # models/base + data/prepared/eval.jsonl
    python benchmarks/generation.py --prompts 384 --batch-size 64 --repeats 3
"""

from __future__ import annotations

import resource
import time

import click


def padded_tokens(tokenizer, rendered, order, batch_size) -> int:
    lengths = [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    total = 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        total += max(lengths[i] for i in batch) * len(batch)
    return total


@click.command()
@click.option("--base", default="models/base", show_default=True, help="Base model folder (bootstrap output).")
@click.option("--policy", default="models/c0", show_default=True, help="Policy folder (adapter or c0).")
@click.option("--prompts-file", default="data/prepared/eval.jsonl", show_default=True)
@click.option("--prompts", "n_prompts", default=384, show_default=True, help="How many prompts.")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--max-new-tokens", default=32, show_default=True)
@click.option("--repeats", default=3, show_default=True, help="Timed runs per variant (best is kept).")
def main(base, policy, prompts_file, n_prompts, batch_size, max_new_tokens, repeats):
    from careal.policy.generation import Decoding, generate_answers, render_prompt
    from careal.jsonio import read_jsonl
    from careal.policy.loading import load_policy

    loaded = load_policy(base, policy, device="cpu", dtype="float32")
    prompts = [r["prompt"] for r in read_jsonl(prompts_file)][:n_prompts]
    decoding = Decoding(do_sample=False, max_new_tokens=max_new_tokens, batch_size=batch_size)
    rendered = [render_prompt(loaded.tokenizer, p) for p in prompts]
    lengths = [len(ids) for ids in loaded.tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    orders = {"sorted": sorted(range(len(prompts)), key=lambda i: (lengths[i], i)), "unsorted": list(range(len(prompts)))}
    results = {}
    for name in ("unsorted", "sorted"):
        best, answers = float("inf"), None
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(repeats):
            start = time.perf_counter()
            answers = generate_answers(loaded, prompts, decoding, progress_desc=name, sort_by_length=name == "sorted")
            best = min(best, time.perf_counter() - start)
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        results[name] = {"seconds": best, "padded_tokens": padded_tokens(loaded.tokenizer, rendered, orders[name], batch_size), "rss_growth_kb": rss_growth, "answers": answers}
    s, u = results["sorted"], results["unsorted"]
    same = sum(a == b for a, b in zip(s["answers"], u["answers"]))
    click.echo(f"{len(prompts)} prompts, batch {batch_size}, {max_new_tokens} new tokens, best of {repeats}")
    click.echo(f"{'variant':<10}{'seconds':>10}{'padded prompt tokens':>24}")
    for name in ("unsorted", "sorted"):
        r = results[name]
        click.echo(f"{name:<10}{r['seconds']:>10.2f}{r['padded_tokens']:>24,}")
    click.echo(f"ratio sorted/unsorted: time {s['seconds'] / u['seconds']:.2f}, padded tokens {s['padded_tokens'] / u['padded_tokens']:.2f}")
    click.echo(f"peak RSS growth: unsorted {u['rss_growth_kb'] / 1024:.1f} MiB (first, includes warm-up), sorted {s['rss_growth_kb'] / 1024:.1f} MiB more")
    click.echo(f"identical greedy answers: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
