"""Safe defaults (no remote code, safetensors only, no keys in params) and memory guards that
stop a stage before it loads a model that cannot fit."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from careal.errors import CarealError
from conftest import small_params

ROOT = Path(__file__).resolve().parents[1]


def test_every_from_pretrained_asks_for_no_remote_code_and_safetensors(tiny_project, monkeypatch):
    import transformers

    from careal.policy.loading import load_policy

    calls = []
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer, transformers.AutoConfig):
        original = cls.from_pretrained.__func__

        def spy(klass, *args, _original=original, _name=cls.__name__, **kwargs):
            calls.append((_name, kwargs))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    monkeypatch.chdir(tiny_project)
    from careal.policy.resources import model_shape

    load_policy("models/base", "models/c0")
    assert model_shape("models/base") is not None
    assert {name for name, _ in calls} == {"AutoModelForCausalLM", "AutoTokenizer", "AutoConfig"}
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in calls), calls
    assert all(kwargs.get("use_safetensors") is True for name, kwargs in calls if name == "AutoModelForCausalLM")


def test_no_source_file_turns_remote_code_on():
    needle = "trust_remote_code" + "=" + "True"  # spelt in parts so that this test file is no hit itself
    hits = [p for p in (ROOT / "careal").rglob("*.py") if needle in p.read_text().replace(" ", "")]
    assert hits == []


def test_pickle_only_weights_are_refused(tiny_project, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from careal import pipeline
    from careal.policy.loading import load_policy

    folder = tmp_path / "pickled"
    model = AutoModelForCausalLM.from_pretrained(tiny_project / "models/base")
    folder.mkdir()
    model.config.save_pretrained(folder)
    import torch

    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the old pickle format
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_project / "models/base" / name, folder / name)
    assert (folder / "pytorch_model.bin").exists() and not list(folder.glob("*.safetensors"))
    monkeypatch.chdir(tmp_path)
    params = small_params()
    params.model.base = str(folder)
    os.makedirs("data/prepared", exist_ok=True)
    pipeline.run_bootstrap(params)
    with pytest.raises(CarealError, match=r"only pickle weights \(pytorch_model.bin\); careal loads .safetensors only"):
        load_policy("models/base", "models/c0")

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.bin").write_bytes(b"not loaded")
    monkeypatch.chdir(tiny_project)
    with pytest.raises(CarealError, match="no adapter_model.safetensors"):
        load_policy("models/base", adapter)


@pytest.mark.parametrize("value", ["sk-proj-Abcdefghijklmnop1234567890", "hf_AbCdEfGhIjKlMnOpQrStUvWx123"])
def test_an_api_key_in_params_is_refused(value):
    from careal.params import parse_params

    with pytest.raises(CarealError, match="looks like an API key") as info:
        parse_params({"model": {"base": value}})
    assert value not in str(info.value)


def test_memory_guard_stops_generate_and_train_before_loading(tiny_project, monkeypatch):
    from careal import pipeline

    monkeypatch.chdir(tiny_project)
    params = small_params()
    monkeypatch.setenv("CAREAL_AVAILABLE_MEMORY", "20M")  # the weights fit, a batch does not
    before = sorted(p.as_posix() for p in Path(".").rglob("*"))
    with pytest.raises(CarealError) as info:
        pipeline.run_generate(params, "c1")
    message = str(info.value)
    assert message.startswith("generate@c1: needs about ") and "20.0 MiB is available" in message
    assert "is available (CAREAL_AVAILABLE_MEMORY on cpu); lower generate.batch_size, generate.samples, generate.max_new_tokens" in message
    with pytest.raises(CarealError, match=r"train@c1: needs about .*; lower train.batch_size, train.max_length"):
        pipeline.run_train(params, "c1")
    monkeypatch.setenv("CAREAL_AVAILABLE_MEMORY", "2M")  # greedy evaluation needs less
    with pytest.raises(CarealError, match=r"evaluate@c0: needs about .*; lower evaluate.batch_size, evaluate.max_new_tokens"):
        pipeline.run_evaluate(params, "c0")
    assert sorted(p.as_posix() for p in Path(".").rglob("*")) == before  # nothing written
    monkeypatch.setenv("CAREAL_AVAILABLE_MEMORY", "1G")
    assert pipeline.run_generate(params, "c1")["answers"] == 32 * 4


def test_a_model_too_big_for_the_machine_is_refused_from_its_config_alone(tmp_path, monkeypatch):
    """A 70B-shaped config and no weights at all: the guard answers before anything loads."""
    from careal.policy.resources import ModelShape, check_fits, generation_estimate, training_estimate

    shape = ModelShape(vocab_size=128_256, hidden_size=8192, num_layers=80, num_heads=64, num_kv_heads=8, intermediate_size=28_672, tie_word_embeddings=False)
    assert 69e9 < shape.parameters < 72e9
    monkeypatch.setenv("CAREAL_AVAILABLE_MEMORY", "24G")
    with pytest.raises(CarealError, match="weights alone do not fit"):
        check_fits(training_estimate(shape, 2, method="dpo", batch_size=1, max_length=256), "train@c1", "cpu")
    small = ModelShape(vocab_size=32_000, hidden_size=2048, num_layers=16, num_heads=16, num_kv_heads=16, intermediate_size=5632)
    prompts = ["x" * 600] * 4096
    big_batch = generation_estimate(small, 2, prompts=prompts, batch_size=512, samples=8, max_new_tokens=1024, section="generate")
    with pytest.raises(CarealError, match="lower generate.batch_size, generate.samples, generate.max_new_tokens"):
        check_fits(big_batch, "generate@c1", "cpu")
    fits = generation_estimate(small, 2, prompts=prompts, batch_size=8, samples=2, max_new_tokens=256, section="generate")
    check_fits(fits, "generate@c1", "cpu")
    assert fits.total < big_batch.total


def test_available_memory_override_parses_units():
    from careal.policy.resources import parse_bytes

    assert parse_bytes("1024") == 1024 and parse_bytes("2K") == 2048 and parse_bytes("1.5G") == int(1.5 * 1024**3)
    with pytest.raises(CarealError, match="CAREAL_AVAILABLE_MEMORY"):
        parse_bytes("lots")


TRAINER_PROBE = """
import sys
import careal  # noqa: F401  (turns huggingface_hub telemetry off)
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

base = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(base)
tokenizer = AutoTokenizer.from_pretrained(base)
data = Dataset.from_list([{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 4)
args = SFTConfig(output_dir=sys.argv[2], max_steps=1, per_device_train_batch_size=2, report_to=[], bf16=False, use_cpu=True)
SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer).train()
"""


def test_a_trl_trainer_started_by_careal_opens_no_socket(tiny_project, tmp_path):
    """trl's trainers send telemetry to huggingface.co on start; careal turns it off. The probe
    runs with every internet socket blocked and logged (tests/netguard)."""
    import subprocess
    import sys

    log = tmp_path / "netguard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_", "CAREAL_"))}
    env.update(PYTHONPATH=f"{ROOT / 'tests' / 'netguard'}{os.pathsep}{ROOT}", CAREAL_NETGUARD_LOG=str(log))
    result = subprocess.run([sys.executable, "-c", TRAINER_PROBE, str(tiny_project / "models/base"), str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not log.exists(), log.read_text()
