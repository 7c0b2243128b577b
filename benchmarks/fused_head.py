"""Side-by-side benchmark of trl's fused LM head on the CPU: trl's default (every position
projected onto the vocabulary, prompt and padding included) against careal's
``score_labelled_positions_only`` (only the positions with a label), in one run, same model,
data, trainer settings and number of steps.

Two workloads, both the embedded default's: the warm start's SFT (bootstrap) and a DPO cycle
(train@c1). Reports the seconds of each and the ratio compact / default, and the final loss of
each, which must agree (the same numbers, summed in another order).

    python benchmarks/fused_head.py                 # 24 SFT steps, 12 DPO steps
    python benchmarks/fused_head.py --sft-steps 48 --dpo-steps 24
"""

from __future__ import annotations

import tempfile
import time

import click


def _sft(steps: int, compact: bool) -> tuple[float, float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from careal.jsonio import read_jsonl
    from careal.params import load_params
    from careal.policy.tiny import knowledge_examples, warm_start_examples
    from careal.policy.trainer_args import common_trainer_args

    params = load_params("params.yaml")
    records = read_jsonl("data/prepared/train.jsonl")
    examples = warm_start_examples(records, 1, 0) + knowledge_examples(records, params.bootstrap.knowledge_examples_per_prompt, 0)
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": e["prompt"]}], "completion": [{"role": "assistant", "content": e["answer"]}]} for e in examples])
    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained("models/base")
    model = AutoModelForCausalLM.from_pretrained("models/base")
    with tempfile.TemporaryDirectory() as work_dir:
        args = SFTConfig(max_steps=steps, per_device_train_batch_size=params.bootstrap.sft_batch_size, learning_rate=1e-4, max_length=512, train_sampling_strategy="group_by_length", completion_only_loss=True, disable_tqdm=True, **common_trainer_args(work_dir, 0, "cpu", None))
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        return _timed(trainer, compact)


def _dpo(steps: int, compact: bool, pairs_file: str) -> tuple[float, float]:
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from careal.jsonio import read_jsonl
    from careal.policy.loading import load_policy
    from careal.params import load_params
    from careal.policy.trainer_args import common_trainer_args
    from careal.preference.training import build_dataset, dpo_loss_args

    train = load_params("params.yaml").train
    policy = load_policy("models/base", "models/c0", device="cpu", dtype="float32")
    dataset = build_dataset("dpo", read_jsonl(pairs_file), policy.tokenizer, pairs_file, seed=0, batch_size=train.batch_size)
    with tempfile.TemporaryDirectory() as work_dir:
        args = DPOConfig(max_steps=steps, per_device_train_batch_size=train.batch_size, learning_rate=train.learning_rate, beta=train.beta, max_length=train.max_length, train_sampling_strategy="sequential", disable_tqdm=True, **dpo_loss_args(train.sft_weight), **common_trainer_args(work_dir, 0, "cpu", None))
        lora = LoraConfig(r=train.lora_r, lora_alpha=train.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM")
        trainer = DPOTrainer(model=policy.model, args=args, train_dataset=dataset, processing_class=policy.tokenizer, peft_config=lora)
        return _timed(trainer, compact)


def _timed(trainer, compact: bool) -> tuple[float, float]:
    from transformers.trainer_callback import PrinterCallback
    from trl.trainer import utils as trl_utils

    from careal.policy.fused_head import score_labelled_positions_only

    trainer.remove_callback(PrinterCallback)  # no logged dicts on the console
    original = trl_utils._use_triton
    try:
        if compact:
            assert score_labelled_positions_only(), "trl's switch was not found"
        start = time.perf_counter()
        result = trainer.train()
        return time.perf_counter() - start, float(result.training_loss)
    finally:
        trl_utils._use_triton = original


@click.command()
@click.option("--sft-steps", default=24, show_default=True, help="Warm-start SFT steps per variant.")
@click.option("--dpo-steps", default=12, show_default=True, help="DPO steps per variant.")
@click.option("--pairs", "pairs_file", default="data/cycles/c1/dpo.jsonl", show_default=True)
def main(sft_steps, dpo_steps, pairs_file):
    """Needs a reproduced project (models/base, data/prepared, data/cycles/c1)."""
    rows = []
    for workload, run, steps in (("SFT warm start", lambda c: _sft(sft_steps, c), sft_steps), ("DPO cycle", lambda c: _dpo(dpo_steps, c, pairs_file), dpo_steps)):
        default_s, default_loss = run(False)
        compact_s, compact_loss = run(True)
        rows.append((workload, steps, default_s, compact_s, default_loss, compact_loss))
    click.echo("| workload | steps | trl default (s) | labelled only (s) | ratio | loss default | loss labelled only |")
    click.echo("| --- | --- | --- | --- | --- | --- | --- |")
    for workload, steps, d, c, dl, cl in rows:
        click.echo(f"| {workload} | {steps} | {d:.1f} | {c:.1f} | {c / d:.2f} | {dl:.5f} | {cl:.5f} |")


if __name__ == "__main__":
    main()
