"""Presets for the paper's models: each applies to the default params.yaml with one command,
keeps its comments and other keys, parses, and fits its model's architecture (built as a
weightless skeleton from the published config: no download)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from careal.preference import preflight
from careal.errors import CarealError
from careal.params import parse_params
from careal.presets import PRESETS, apply_preset, get_preset, load_preset

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
GPU_BYTES = 80e9


def test_the_four_paper_models_have_a_preset():
    assert {p.model for p in PRESETS.values()} == {
        "meta-llama/Llama-3.2-3B-Instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        "OpenMeditron/Meditron3-8B",
        "mistralai/Mistral-7B-Instruct-v0.3",
    }


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_applies_over_the_default_params(name, tmp_path):
    params_path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_path)
    before = yaml.safe_load(params_path.read_text())
    changed = apply_preset(name, params_path)
    text = params_path.read_text()
    after = yaml.safe_load(text)
    params = parse_params(after)
    preset = get_preset(name)

    assert HUB_ID.match(params.model.base) and params.model.base == preset.model
    assert (params.model.dtype, params.model.device) == ("bfloat16", "cuda")
    assert params.data.source == "hf:HFXM/CARES-18K" and params.data.train_size > 0 and params.data.eval_size > 0
    assert params.generate.max_new_tokens == params.evaluate.max_new_tokens == 256
    assert params.train.max_length >= 256 + 200  # the answer and a CARES prompt fit
    assert isinstance(params.train.learning_rate, float)
    assert "model.base" in changed and "cycles" not in " ".join(changed)
    # only the preset's keys changed; every other key and every comment is kept
    for section in ("seed", "judge", "pair", "cycles", "bootstrap"):
        assert after[section] == before[section]
    assert after["train"]["method"] == before["train"]["method"] and after["train"]["beta"] == before["train"]["beta"]
    for line in (ROOT / "params.yaml").read_text().splitlines():
        if line.lstrip().startswith("#"):
            assert line in text
    assert "# auto | float32 | bfloat16 | float16" in text and "revision: null" in text
    # applying twice changes nothing more
    assert apply_preset(name, params_path) == [] and params_path.read_text() == text


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_fits_its_model_architecture_without_weights(name):
    """The published architecture, built on the meta device (no weights, no download): its
    parameter count is the published one, the preset's LoRA targets are layers of it, and the
    bf16 weights leave most of one 80 GB GPU for activations."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    preset = get_preset(name)
    config = AutoConfig.for_model(preset.model_type, **preset.config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n / 1e9 - preset.parameters_billion) / preset.parameters_billion < 0.02
    targets = preflight.lora_target_modules(load_preset(name)["train"]["lora_target_modules"])
    assert set(targets) <= set(preset.lora_layers)
    preflight.check_lora_targets(model, targets)
    assert 2 * n < 0.25 * GPU_BYTES


def test_unknown_preset_and_the_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from careal.cli import main

    with pytest.raises(CarealError, match=r"no preset 'llama-2' \(presets: llama-3.2-3b"):
        get_preset("llama-2")
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", "params.yaml")
    runner = CliRunner()
    listing = runner.invoke(main, ["preset", "list"])
    assert listing.exit_code == 0 and all(p.model in listing.output for p in PRESETS.values())
    result = runner.invoke(main, ["preset", "apply", "mistral-7b-v0.3"])
    assert result.exit_code == 0 and "model.base" in result.output
    assert yaml.safe_load(Path("params.yaml").read_text())["model"]["base"] == "mistralai/Mistral-7B-Instruct-v0.3"
    result = runner.invoke(main, ["preset", "apply", "nope"])
    assert result.exit_code == 2 and "no preset 'nope'" in result.output
