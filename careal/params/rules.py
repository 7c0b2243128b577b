"""The range or choice of every numeric and enumerated params.yaml key, one line each
(``RULES``), and the helpers that write those lines. **Adding a numeric key? Add its line to
RULES** (tests/test_params.py fails for a numeric key without one)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Rule:
    """A range or choice check for one params key: ``allowed`` is shown to the user."""

    allowed: str
    test: Callable[[object], bool]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value))


def at_least(low) -> Rule:
    return Rule(f">= {low}", lambda v: _number(v) and v >= low)


def above(low) -> Rule:
    return Rule(f"> {low}", lambda v: _number(v) and v > low and not math.isinf(v))


def between(low, high, *, low_open=True, high_open=True) -> Rule:
    text = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return Rule(f"a number in {text}", lambda v: _number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high))


def one_of(*choices) -> Rule:
    return Rule("one of " + ", ".join(map(str, choices)), lambda v: v in choices)


def auto_or(rule: Rule) -> Rule:
    return Rule(f"auto or {rule.allowed}", lambda v: v == "auto" or rule.test(v))


def null_or(rule: Rule) -> Rule:
    return Rule(f"null or {rule.allowed}", lambda v: v is None or rule.test(v))


def non_empty() -> Rule:
    return Rule("a non-empty text", lambda v: isinstance(v, str) and bool(v.strip()))


RULES: dict[str, Rule] = {
    "seed": at_least(0),
    "data.source": non_empty(),
    "data.builtin_base_prompts_per_cell": at_least(1),
    "data.hf_train_split": non_empty(),
    "data.hf_eval_split": non_empty(),
    "data.eval_fraction": between(0, 1),
    "data.train_size": at_least(0),
    "data.eval_size": at_least(0),
    "data.validation_size": at_least(0),
    "select.max_erroneous_increase": between(0, 1, low_open=False, high_open=False),
    "select.min_fluency_ratio": between(0, 1, low_open=False, high_open=False),
    "data.on_bad_rows": one_of("error", "skip"),
    "model.base": non_empty(),
    "model.dtype": one_of("auto", "float32", "bfloat16", "float16"),
    "model.device": one_of("auto", "cpu", "cuda"),
    "cpu.threads": at_least(0),
    "bootstrap.vocab_size": at_least(300),
    "bootstrap.hidden_size": at_least(1),
    "bootstrap.intermediate_size": at_least(1),
    "bootstrap.num_layers": at_least(1),
    "bootstrap.num_heads": at_least(1),
    "bootstrap.sft_repeats": at_least(1),
    "bootstrap.sft_epochs": at_least(1),
    "bootstrap.sft_learning_rate": between(0, 1),
    "bootstrap.sft_batch_size": at_least(1),
    "bootstrap.judge_examples_per_prompt": at_least(0),
    "bootstrap.knowledge_examples_per_prompt": at_least(0),
    "generate.samples": at_least(1),
    "generate.temperature": above(0),
    "generate.top_p": between(0, 1, high_open=False),
    "generate.max_new_tokens": at_least(1),
    "generate.batch_size": at_least(1),
    "judge_train.source": non_empty(),
    "judge_train.labels": one_of("known", "rules"),
    "judge_train.answers_per_prompt": at_least(1),
    "judge_train.heldout_fraction": between(0, 1),
    "judge_train.base": non_empty(),
    "judge_train.epochs": at_least(1),
    "judge_train.learning_rate": between(0, 1),
    "judge_train.batch_size": at_least(1),
    "judge_train.max_length": at_least(16),
    "judge_train.lora_r": at_least(1),
    "judge_train.lora_alpha": above(0),
    "judge_train.lora_target_modules": non_empty(),
    "judge_train.device": one_of("auto", "cpu", "cuda"),
    "judge_train.dtype": one_of("auto", "float32", "bfloat16", "float16"),
    "pair.dpo_max_pairs_per_prompt": at_least(1),
    "pair.dpo_balance_max_repeat": at_least(0),
    "pair.dpo_strategy": one_of("best_vs_worst", "best_vs_random", "all_pairs"),
    "pair.fallback_style": one_of("ideal", "refuse"),
    "pair.dpo_min_score_margin": between(0, 1, low_open=False, high_open=False),
    "pair.dpo_max_text_similarity": between(0, 1, low_open=False, high_open=False),
    "generate.prompts_per_cycle": at_least(0),
    "generate.harmless_share": between(0, 1, low_open=False),
    "train.init": one_of("fresh", "continue"),
    "train.ref_policy": one_of("base", "previous"),
    "train.accumulate": at_least(0),
    "train.sft_weight": at_least(0),
    "train.lr_scheduler": non_empty(),
    "train.warmup_ratio": between(0, 1, low_open=False),
    "train.method": one_of("kto", "dpo"),
    "train.beta": above(0),
    "train.learning_rate": between(0, 1),
    "train.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.max_length": at_least(16),
    "train.lora_r": at_least(1),
    "train.lora_alpha": above(0),
    "train.lora_dropout": between(0, 1, low_open=False),
    "train.lora_target_modules": non_empty(),
    "train.kto_desirable_weight": auto_or(above(0)),
    "train.kto_undesirable_weight": auto_or(above(0)),
    "train.launcher": one_of("python", "accelerate"),
    "train.num_processes": at_least(1),
    "train.accelerate_config": non_empty(),
    "judge_train.launcher": one_of("python", "accelerate"),
    "judge_train.num_processes": at_least(1),
    "judge_train.accelerate_config": non_empty(),
    "train.kto_learning_rate": null_or(between(0, 1)),
    "train.kto_epochs": null_or(at_least(1)),
    "train.kto_beta": null_or(above(0)),
    "evaluate.max_new_tokens": at_least(1),
    "evaluate.batch_size": at_least(1),
    "evaluate.probe_train_prompts": at_least(0),
    "evaluate.probe_l2": above(0),
    "evaluate.probe_folds": at_least(2),
    "evaluate.probe_batch_size": at_least(1),
    "generate.backend": one_of("hf", "openai", "vllm"),
    "generate.openai.serve": one_of("none", "transformers"),
    "generate.openai.concurrency": at_least(1),
    "generate.openai.timeout": above(0),
    "generate.openai.max_retries": at_least(0),
    "generate.openai.on_error": one_of("fail", "skip"),
    "generate.vllm.tensor_parallel_size": at_least(1),
    "generate.vllm.gpu_memory_utilization": between(0, 1, high_open=False),
    "generate.vllm.max_model_len": at_least(0),
    "evaluate.backend": one_of("hf", "openai", "vllm"),
    "evaluate.openai.serve": one_of("none", "transformers"),
    "evaluate.openai.concurrency": at_least(1),
    "evaluate.openai.timeout": above(0),
    "evaluate.openai.max_retries": at_least(0),
    "evaluate.openai.on_error": one_of("fail", "skip"),
    "evaluate.vllm.tensor_parallel_size": at_least(1),
    "evaluate.vllm.gpu_memory_utilization": between(0, 1, high_open=False),
    "evaluate.vllm.max_model_len": at_least(0),
}
"""Range and choice of each key (see the module doc); a key missing here is only type-checked."""
