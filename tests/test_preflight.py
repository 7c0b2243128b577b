"""Pre-flight checks of train@cK: each error, with the params key or file it names, raised
before any model is loaded or any step is taken."""

from __future__ import annotations

import pytest

from careal.preference import preflight
from careal.errors import CarealError
from careal.jsonio import write_jsonl
from careal.params import ModelParams, TrainParams

KTO_ROWS = [{"prompt": f"p{i}", "completion": "c", "label": i % 2 == 0} for i in range(16)]


def test_beta_must_be_positive():
    with pytest.raises(CarealError, match=r"params.yaml: train.beta must be > 0 .*got 0.0"):
        preflight.check_train_params("dpo", TrainParams(method="dpo", beta=0.0))
    with pytest.raises(CarealError, match=r"train.beta must be > 0"):
        preflight.check_train_params("kto", TrainParams(beta=-0.1))


def test_kto_needs_a_real_batch_of_two_or_more():
    with pytest.raises(CarealError, match=r"params.yaml: train.batch_size must be at least 2 for train.method kto.*got 1"):
        preflight.check_train_params("kto", TrainParams(method="kto", batch_size=1))
    preflight.check_train_params("dpo", TrainParams(method="dpo", batch_size=1))  # DPO trains on one pair a step


def test_kto_needs_both_classes():
    rows = [dict(r, label=True) for r in KTO_ROWS]
    with pytest.raises(CarealError, match=r"data/cycles/c1/kto.jsonl: KTO needs both desirable and undesirable rows, got 16 desirable and 0 undesirable"):
        preflight.check_rows("kto", rows, 8, "data/cycles/c1/kto.jsonl")
    preflight.check_rows("kto", KTO_ROWS, 8, "kto.jsonl")


def test_at_least_one_batch_of_rows_or_pairs():
    pairs = [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 5
    with pytest.raises(CarealError, match=r"dpo.jsonl: 5 DPO pairs, fewer than one batch \(train.batch_size 16\)"):
        preflight.check_rows("dpo", pairs, 16, "dpo.jsonl")
    with pytest.raises(CarealError, match=r"dpo.jsonl: 0 DPO pairs"):
        preflight.check_rows("dpo", [], 16, "dpo.jsonl")
    with pytest.raises(CarealError, match=r"kto.jsonl: 16 KTO rows, fewer than one batch \(train.batch_size 32\)"):
        preflight.check_rows("kto", KTO_ROWS, 32, "kto.jsonl")
    preflight.check_rows("dpo", pairs, 5, "dpo.jsonl")


def test_precision_only_where_the_device_supports_it():
    with pytest.raises(CarealError, match=r"params.yaml: model.dtype float16 cannot be trained on the CPU"):
        preflight.check_precision("float16", "cpu", bf16_supported=False)
    with pytest.raises(CarealError, match=r"params.yaml: model.dtype bfloat16 needs a GPU that supports it"):
        preflight.check_precision("bfloat16", "cuda", bf16_supported=False)
    for dtype, device, bf16 in (("bfloat16", "cuda", True), ("float16", "cuda", False), ("float32", "cpu", False), ("auto", "cpu", False), ("bfloat16", "cpu", False)):
        preflight.check_precision(dtype, device, bf16)


def test_lora_target_modules_forms():
    assert preflight.lora_target_modules("all-linear") == "all-linear"
    assert preflight.lora_target_modules("q_proj, v_proj") == ["q_proj", "v_proj"]
    assert preflight.lora_target_modules(["q_proj", "o_proj"]) == ["q_proj", "o_proj"]
    with pytest.raises(CarealError, match=r"train.lora_target_modules has an empty module name"):
        preflight.lora_target_modules("q_proj,,v_proj")
    with pytest.raises(CarealError, match=r"train.lora_target_modules must be all-linear"):
        preflight.lora_target_modules(3)


def test_lora_targets_must_exist_in_the_real_model(tiny_project):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_project / "models/base")
    preflight.check_lora_targets(model, "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    preflight.check_lora_targets(model, "all-linear")
    with pytest.raises(CarealError, match=r"train.lora_target_modules names c_attn, not found in the model \(its adaptable layers: .*q_proj"):
        preflight.check_lora_targets(model, "q_proj,c_attn")
    with pytest.raises(CarealError, match=r"train.lora_target_modules names norm \(LlamaRMSNorm\), which LoRA cannot adapt"):
        preflight.check_lora_targets(model, ["q_proj", "norm"])


def test_train_cycle_stops_before_loading_anything(tmp_path):
    """A bad key stops train_cycle before the model is loaded (the base folder does not even
    exist here) and leaves the output folder empty."""
    from careal.preference.training import train_cycle

    write_jsonl(tmp_path / "kto.jsonl", KTO_ROWS)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CarealError, match=r"train.batch_size must be at least 2 for train.method kto"):
        train_cycle(cycle="c1", parent="c0", data_dir=tmp_path, base_dir=tmp_path / "no-base", parent_dir=tmp_path / "no-c0", out_dir=out,
                    train_params=TrainParams(method="kto", batch_size=1), model_params=ModelParams(device="cpu"), seed=0)
    with pytest.raises(CarealError, match=r"model.dtype float16 cannot be trained on the CPU"):
        train_cycle(cycle="c1", parent="c0", data_dir=tmp_path, base_dir=tmp_path / "no-base", parent_dir=tmp_path / "no-c0", out_dir=out,
                    train_params=TrainParams(method="kto", batch_size=8), model_params=ModelParams(device="cpu", dtype="float16"), seed=0)
    assert not any(out.iterdir())
