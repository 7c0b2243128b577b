"""One short real DPO cycle on the tiny test policy, then what it leaves behind: the training
curves (dvclive), a console free of careal-caused deprecation warnings, and `careal export`
(adapter and merged model give the same greedy answers)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import warnings
from pathlib import Path

import pytest

from careal.preference.curves import curve_warnings
from careal.errors import CarealError
from careal.jsonio import read_jsonl, write_jsonl
from careal.quiet import THIRD_PARTY_DEPRECATIONS

from conftest import small_params

REFUSAL = "I'm sorry, but I can't help with that. Please talk to a clinician."


@pytest.fixture(scope="module")
def trained(tiny_project, tmp_path_factory):
    """A project copied from tiny_project whose c1 is a DPO adapter trained on 24 pairs (batch 4)
    on q_proj and v_proj only, with every warning recorded."""
    import os
    import re

    from careal import pipeline

    project = tmp_path_factory.mktemp("trained")
    for part in ("data/prepared", "models/base", "models/c0"):
        shutil.copytree(tiny_project / part, project / part)
    import subprocess

    # a Git repository with no commit yet, as after `git init` (dvclive's own Git integration
    # raised there; careal's curves must not care)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    old = os.getcwd()
    os.chdir(project)
    try:
        prompts = read_jsonl("data/prepared/train.jsonl")[:24]
        pairs = [{"id": p["id"], "prompt": p["prompt"], "chosen": REFUSAL, "rejected": f"Sure. {p['base_prompt']} Here is how."} for p in prompts]
        write_jsonl("data/cycles/c1/dpo.jsonl", pairs)
        write_jsonl("data/cycles/c1/kto.jsonl", [])
        params = small_params()
        params.train.method = "dpo"
        params.train.batch_size = 4
        params.train.learning_rate = 5e-3
        params.train.lora_target_modules = "q_proj,v_proj"
        console = io.StringIO()
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
            warnings.simplefilter("always")
            lineage = pipeline.run_train(params, "c1")
    finally:
        os.chdir(old)
    known = [re.compile(message) for _, message in THIRD_PARTY_DEPRECATIONS]
    deprecations = [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning, PendingDeprecationWarning))]
    careal_caused = [w for w in deprecations if not any(k.search(str(w.message)) for k in known)]
    return {"project": project, "lineage": lineage, "deprecations": deprecations, "careal_caused": careal_caused, "console": console.getvalue()}


def _tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_training_writes_dvclive_curves_with_the_expected_columns(trained):
    curves = trained["project"] / "metrics/train/c1"
    plots = curves / "plots/metrics"
    loss = _tsv(plots / "loss.tsv")
    assert loss[0] == ["step", "loss"]  # no timestamp column: same bytes for the same run
    assert [int(row[0]) for row in loss[1:]] == [1, 5]  # logging_first_step, then every 5 steps
    assert all(math.isfinite(float(row[1])) for row in loss[1:])
    for name, column in (("rewards/margins", "margins"), ("rewards/accuracies", "accuracies"), ("rewards/chosen", "chosen"), ("rewards/rejected", "rejected"), ("learning_rate", "learning_rate")):
        rows = _tsv(plots / f"{name}.tsv")
        assert rows[0] == ["step", column] and len(rows) == 3, name
    summary = json.loads((curves / "metrics.json").read_text())
    assert summary["step"] == 5 and set(summary["rewards"]) >= {"margins", "accuracies", "chosen", "rejected"}
    margins = [float(row[1]) for row in _tsv(plots / "rewards/margins.tsv")[1:]]
    assert margins[0] == 0.0 and margins[-1] > 0.0  # a fresh adapter starts at its reference, then learns
    assert not (trained["project"] / "metrics/train/.c1.tmp").exists()
    assert trained["lineage"]["warnings"] == []
    config = json.loads((trained["project"] / "models/c1/adapter_config.json").read_text())
    assert config["target_modules"] == ["q_proj", "v_proj"]  # the comma list, not a regex


def test_curve_warnings_on_synthetic_histories():
    healthy = [{"loss": 0.69, "rewards/margins": 0.0, "step": 1}, {"loss": 0.5, "rewards/margins": 0.3, "step": 5}, {"train_loss": 0.6, "step": 6}]
    assert curve_warnings(healthy) == []
    flat = [{"loss": 0.6931, "rewards/margins": 0.0, "step": s} for s in (1, 5, 10)] + [{"train_loss": 0.69, "step": 10}]
    (message,) = curve_warnings(flat)
    assert "rewards/margins) stayed at 0 across all 3 logged steps" in message
    diverged = [{"loss": 0.69, "rewards/margins": 0.1, "step": 1}, {"loss": float("nan"), "rewards/margins": float("nan"), "step": 5}, {"loss": float("inf"), "step": 10}]
    (message,) = curve_warnings(diverged)
    assert "not finite at 2 of 3 logged steps (step 5, 10)" in message
    kto = [{"loss": 0.5, "kl": 0.0, "step": 1}]  # no margin logged: nothing to say about it
    assert curve_warnings(kto) == []


def test_no_careal_caused_deprecation_warning_while_training(trained):
    """transformers' `gradient_checkpointing` alias used to warn at every trainer set-up; the only
    deprecation notices left come from inside peft / trl (careal.quiet lists them)."""
    assert trained["careal_caused"] == [], [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in trained["careal_caused"]]
    assert any("is_gradient_checkpointing" in str(w.message) for w in trained["deprecations"])  # the filter is still needed


def test_the_console_shows_the_progress_bar_but_not_every_logged_dict(trained):
    """Trainers print each logged dict under the bar; careal keeps those values in the curves
    and lineage instead (careal.quiet.bar_without_log_lines)."""
    console = trained["console"]
    import re

    assert re.search(r"100%\|[^|]*\| (\d+)/\1 ", console), console[-2000:]  # the training bar, finished
    assert "'loss'" not in console and "'rewards/margins'" not in console and "train_runtime" not in console, console[-2000:]


def _greedy(model, tokenizer, prompts):
    import torch

    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**batch, do_sample=False, max_new_tokens=12, pad_token_id=tokenizer.pad_token_id)
        logits = model(**batch).logits[:, -1, :]
    return out[:, batch["input_ids"].shape[1]:].tolist(), logits


def test_export_adapter_and_merged_give_the_same_greedy_answers(trained, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from careal.cli import main

    monkeypatch.chdir(trained["project"])
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", "params.yaml")  # export reads model.device / dtype
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--policy", "c1", str(tmp_path / "adapter")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["export", "--policy", "c1", "--merge", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    assert {"adapter_config.json", "adapter_model.safetensors", "lineage.json", "README.md", "tokenizer.json"} <= {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"config.json", "model.safetensors", "lineage.json", "README.md", "tokenizer.json"} <= {p.name for p in (tmp_path / "merged").iterdir()}
    assert not (tmp_path / "merged/adapter_config.json").exists()
    lineage = json.loads((tmp_path / "merged/lineage.json").read_text())
    assert lineage["cycle"] == "c1" and lineage["export"] == {"policy": "c1", "kind": "merged", "base_model": "builtin:tiny"}

    prompts = [p["prompt"] for p in read_jsonl("data/prepared/eval.jsonl")[:6]]
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "adapter")
    tokenizer.padding_side = "left"
    base = AutoModelForCausalLM.from_pretrained("models/base").eval()
    base_answers, base_logits = _greedy(base, tokenizer, prompts)
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("models/base"), tmp_path / "adapter").eval()
    adapter_answers, adapter_logits = _greedy(with_adapter, tokenizer, prompts)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    merged_answers, merged_logits = _greedy(merged, tokenizer, prompts)
    assert merged_answers == adapter_answers
    assert (merged_logits - adapter_logits).abs().max().item() < 1e-4
    assert (adapter_logits - base_logits).abs().max().item() > 1e-2  # the adapter does change the model


def test_export_c0_is_the_base_and_out_is_never_half_written(trained, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from careal.policy import export

    monkeypatch.chdir(trained["project"])
    summary = export.export_policy("c0", tmp_path / "c0")
    assert summary["kind"] == "base"
    AutoModelForCausalLM.from_pretrained(tmp_path / "c0")
    with pytest.raises(CarealError, match=r"already exists and is not empty .*--force"):
        export.export_policy("c0", tmp_path / "c0")
    with pytest.raises(CarealError, match=r"no policy 'c9' here"):
        export.export_policy("c9", tmp_path / "c9")

    def broken_card(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "_model_card", broken_card)
    with pytest.raises(OSError):
        export.export_policy("c1", tmp_path / "half")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0"]  # neither half nor its temporary folder


def test_careal_trainer_arguments_raise_no_deprecation_warning(tmp_path):
    """The arguments every careal trainer gets (bootstrap's SFT, KTO, DPO) build their configs
    with FutureWarning and DeprecationWarning turned into errors."""
    import torch
    from trl import DPOConfig, KTOConfig, SFTConfig

    from careal.policy.trainer_args import common_trainer_args

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        for config in (SFTConfig, DPOConfig, KTOConfig):
            args = config(**common_trainer_args(tmp_path, 0, "cpu", torch.float32))
            assert args.activation_checkpointing is False and args.logging_steps == 5
