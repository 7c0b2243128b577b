"""The Hugging Face ``TrainingArguments`` every careal trainer shares: the tiny model's warm
start (careal/policy/tiny.py), the DPO/KTO cycles (careal/preference/training.py) and the
classifier judge (careal/judges/training.py)."""

from __future__ import annotations


def trainer_precision(device: str, dtype) -> dict:
    """TrainingArguments precision flags that match the model's dtype and device."""
    import torch

    if device == "cpu":
        return {"use_cpu": True, "bf16": False, "fp16": False}
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16}


def common_trainer_args(output_dir, seed: int, device: str, dtype) -> dict:
    """Arguments every careal trainer shares: no checkpoints, no trackers, seeded, no
    activation checkpointing (it only slows small models down; ``activation_checkpointing``
    is transformers 5's name, ``gradient_checkpointing`` its deprecated alias), and a log
    point every few steps for the training curves (careal/preference/curves.py)."""
    return {
        "output_dir": str(output_dir),
        "save_strategy": "no",
        "report_to": "none",
        "logging_steps": 5,
        "logging_first_step": True,
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": 0,
        "activation_checkpointing": False,
        **trainer_precision(device, dtype),
    }
