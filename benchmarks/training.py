"""Side-by-side benchmark of the training order: careal's length-grouped batches against a
plain shuffle, same policy, pairs, trainer settings and number of steps, in one run.

Reports ratios (grouped / shuffled) of wall time and of padded tokens per step.

    python benchmarks/training.py                   # DPO on data/cycles/c1/dpo.jsonl, c0 policy
    python benchmarks/training.py --steps 20
"""

from __future__ import annotations

import tempfile
import time

import click


def padded_tokens(tokenizer, dataset, batch_size, steps) -> int:
    from careal.policy.generation import render_prompt

    total = 0
    for start in range(0, min(len(dataset), batch_size * steps), batch_size):
        batch = dataset[start : start + batch_size]
        lengths = []
        for prompt, chosen, rejected in zip(batch["prompt"], batch["chosen"], batch["rejected"]):
            text = render_prompt(tokenizer, prompt[0]["content"])
            answer = max(chosen[0]["content"], rejected[0]["content"], key=len)
            lengths.append(len(tokenizer(text + answer, add_special_tokens=False)["input_ids"]))
        total += max(lengths) * len(lengths)
    return total


@click.command()
@click.option("--pairs", "pairs_file", default="data/cycles/c1/dpo.jsonl", show_default=True)
@click.option("--steps", default=20, show_default=True, help="Training steps per variant.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--grouped-first/--shuffled-first", default=False, help="Which variant runs first (check for warm-up bias).")
def main(pairs_file, steps, batch_size, grouped_first):
    from trl import DPOConfig, DPOTrainer
    from peft import LoraConfig

    from careal.jsonio import read_jsonl
    from careal.policy.loading import load_policy
    from careal.policy.trainer_args import common_trainer_args
    from careal.preference.training import build_dataset

    rows = read_jsonl(pairs_file)
    results = {}
    for name in ("grouped", "shuffled") if grouped_first else ("shuffled", "grouped"):
        policy = load_policy("models/base", "models/c0", device="cpu", dtype="float32")
        dataset = build_dataset("dpo", rows, policy.tokenizer, pairs_file, seed=0, batch_size=batch_size)
        if name == "shuffled":
            dataset = dataset.shuffle(seed=0)
        with tempfile.TemporaryDirectory() as work_dir:
            args = DPOConfig(max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=5e-5, max_length=256, train_sampling_strategy="sequential", disable_tqdm=True, **common_trainer_args(work_dir, 0, "cpu", None))
            trainer = DPOTrainer(model=policy.model, args=args, train_dataset=dataset, processing_class=policy.tokenizer, peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
        results[name] = {"seconds": seconds, "padded": padded_tokens(policy.tokenizer, dataset, batch_size, steps)}
    g, s = results["grouped"], results["shuffled"]
    click.echo(f"DPO, {steps} steps of {batch_size} pairs from {pairs_file} ({len(rows)} pairs)")
    click.echo(f"{'order':<10}{'seconds':>10}{'padded tokens':>16}")
    for name in ("shuffled", "grouped"):
        click.echo(f"{name:<10}{results[name]['seconds']:>10.2f}{results[name]['padded']:>16,}")
    click.echo(f"ratio grouped/shuffled: time {g['seconds'] / s['seconds']:.2f}, padded tokens {g['padded'] / s['padded']:.2f}")


if __name__ == "__main__":
    main()
