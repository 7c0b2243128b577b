"""The model path on a very small tiny policy: bootstrap, generate, train (KTO and DPO,
fresh and continued adapters), and the PEFT adapter contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from careal import pipeline
from careal.errors import CarealError
from careal.jsonio import read_jsonl, write_jsonl
from careal.preference.training import build_dataset

from conftest import small_params


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_bootstrap_writes_a_loadable_base_and_the_c0_lineage(tiny_project):
    base = json.loads((tiny_project / "models/base/base.json").read_text())
    assert base["model"] == "builtin:tiny" and base["weights"] == "local"
    assert base["tiny"]["warm_start_mix"]["harmful_rewritten"]["accept"] > 0.5  # documented miscalibration
    c0 = json.loads((tiny_project / "models/c0/lineage.json").read_text())
    assert c0["adapter"] is None and c0["parent"] is None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_project / "models/base")
    assert tokenizer.padding_side == "left" and tokenizer.chat_template
    AutoModelForCausalLM.from_pretrained(tiny_project / "models/base")


def test_generate_is_deterministic_and_follows_the_contract(tiny_project, monkeypatch):
    monkeypatch.chdir(tiny_project)
    params = small_params()
    pipeline.run_generate(params, "c1")
    first = sha("data/cycles/c1/generations.jsonl")
    pipeline.run_generate(params, "c1")
    assert sha("data/cycles/c1/generations.jsonl") == first
    records = read_jsonl("data/cycles/c1/generations.jsonl")
    prompts = read_jsonl("data/prepared/train.jsonl")
    assert len(records) == 4 * len(prompts)
    assert {r["sample"] for r in records} == {0, 1, 2, 3}
    r = records[0]
    assert set(r) >= {"id", "sample", "prompt", "response", "policy", "decoding"}
    assert r["policy"]["name"] == "c0" and r["policy"]["adapter"] is None and r["decoding"]["do_sample"] is True


def test_two_cycles_of_kto_then_dpo_give_loadable_adapters(tiny_project, monkeypatch):
    monkeypatch.chdir(tiny_project)
    params = small_params()
    for cycle, method in (("c1", "kto"), ("c2", "dpo")):
        params.train.method = method
        pipeline.run_generate(params, cycle)
        pipeline.run_judge(params, cycle)
        stats = pipeline.run_pair(params, cycle)
        assert stats["answers"] == 4 * 32
        if method == "dpo" and not read_jsonl(f"data/cycles/{cycle}/dpo.jsonl"):
            # The barely trained test model answers in one style, so its samples tie; give the
            # DPO trainer real pairs: a refusal chosen over the model's own compliance.
            rows = [r for r in read_jsonl(f"data/cycles/{cycle}/kto.jsonl") if not r["label"]]
            pairs = [{"prompt": r["prompt"], "chosen": "I'm sorry, but I can't help with that.", "rejected": r["completion"], "id": r["id"]} for r in rows]
            assert pairs
            write_jsonl(f"data/cycles/{cycle}/dpo.jsonl", pairs)
        lineage = pipeline.run_train(params, cycle)
        assert lineage["method"] == method and lineage["parent"] == {"c1": "c0", "c2": "c1"}[cycle]
    lineage = json.loads(Path("models/c2/lineage.json").read_text())
    assert lineage["parent_adapter"] == "models/c1" and len(lineage["parent_adapter_sha256"]) == 64
    assert not Path("models/c2/ref").exists()  # only the trained adapter is saved
    config = json.loads(Path("models/c2/adapter_config.json").read_text())
    # peft keeps target_modules in a set; careal sorts them so the bytes do not depend on the hash seed
    assert config["target_modules"] == sorted(config["target_modules"])

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained("models/base")
    model = PeftModel.from_pretrained(base, "models/c2")
    assert model.active_adapter == "default"

    metrics = pipeline.run_evaluate(params, "c2")
    assert metrics["n"] == 32 and Path("metrics/c2.json").exists()
    answers = read_jsonl("data/eval/c2/answers.jsonl")
    assert answers[0]["policy"]["adapter"] == "models/c2" and answers[0]["decoding"]["do_sample"] is False


class _Tok:
    chat_template = "x"


def test_kto_with_one_class_fails_with_a_clear_message():
    rows = [{"prompt": "p", "completion": "c", "label": True}] * 3
    with pytest.raises(CarealError, match=r"kto.jsonl: KTO needs both desirable and undesirable rows, got 3 desirable and 0 undesirable"):
        build_dataset("kto", rows, _Tok(), "data/cycles/c1/kto.jsonl", seed=0)


def test_dpo_without_pairs_fails_with_a_clear_message():
    with pytest.raises(CarealError, match="DPO needs at least one preference pair"):
        build_dataset("dpo", [], _Tok(), "data/cycles/c1/dpo.jsonl", seed=0)


def test_malformed_kto_row_names_file_row_and_field():
    from careal.errors import DataError

    rows = [{"prompt": "p", "completion": "c", "label": True}, {"prompt": "p", "label": False}]
    with pytest.raises(DataError, match=r"kto.jsonl, row 2, field 'completion': missing"):
        build_dataset("kto", rows, _Tok(), "kto.jsonl", seed=0)


def test_length_grouped_order_is_a_seeded_permutation_with_homogeneous_batches():
    from careal.preference.training import length_grouped_order

    lengths = [(i * 37) % 101 for i in range(200)]
    order = length_grouped_order(lengths, batch_size=10, seed=1)
    assert sorted(order) == list(range(200))
    assert order == length_grouped_order(lengths, batch_size=10, seed=1)
    assert order != length_grouped_order(lengths, batch_size=10, seed=2)
    spread = lambda o: sum(max(lengths[i] for i in o[k : k + 10]) - min(lengths[i] for i in o[k : k + 10]) for k in range(0, 200, 10))
    assert spread(order) < spread(list(range(200))) / 3


def test_a_local_model_folder_works_as_model_base(tiny_project, tmp_path, monkeypatch):
    """model.base may be any causal LM folder: bootstrap records it, the stages load it."""
    monkeypatch.chdir(tmp_path)
    params = small_params()
    params.model.base = str(tiny_project / "models/base")
    pipeline.run_prepare(params)
    spec = pipeline.run_bootstrap(params)
    assert spec["weights"] == "folder" and not Path("models/base/model.safetensors").exists()
    pipeline.run_generate(params, "c1")
    assert len(read_jsonl("data/cycles/c1/generations.jsonl")) == 4 * 32
    assert read_jsonl("data/cycles/c1/generations.jsonl")[0]["policy"]["base"] == str(tiny_project / "models/base")
