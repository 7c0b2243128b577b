"""Training controls: train.init / train.ref_policy (what trl anchors to), train.accumulate,
train.sft_weight, and generate.prompts_per_cycle, on the very small tiny policy."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from careal import pipeline
from careal.data.cycle_prompts import draw_cycle_prompts
from careal.jsonio import read_jsonl, write_jsonl
from careal.preference.training import PREFERENCE_DATA, accumulate_rows, dpo_loss_args, schedule

from conftest import small_params


def test_cycle_prompts_are_a_seeded_stratified_draw_that_differs_per_cycle():
    pool = [{"id": f"p{i}", "harmful_level": i % 4, "method": ("direct", "indirect")[i // 4 % 2]} for i in range(80)]
    c1 = draw_cycle_prompts(pool, 40, 0, "c1")
    assert c1 == draw_cycle_prompts(pool, 40, 0, "c1")
    assert len(c1) == 40 and c1 != draw_cycle_prompts(pool, 40, 0, "c2") and c1 != draw_cycle_prompts(pool, 40, 1, "c1")
    assert Counter((p["harmful_level"], p["method"]) for p in c1) == Counter({(l, m): 5 for l in range(4) for m in ("direct", "indirect")})
    assert [p["id"] for p in c1] == sorted((p["id"] for p in c1), key=lambda i: int(i[1:]))  # pool order kept
    assert draw_cycle_prompts(pool, 0, 0, "c1") == pool and draw_cycle_prompts(pool, 500, 0, "c1") == pool


def test_harmless_share_sets_the_share_of_harmless_prompts_in_a_cycle_draw():
    pool = [{"id": f"p{i}", "harmful_level": i % 4, "method": ("direct", "indirect")[i // 4 % 2]} for i in range(80)]
    draw = draw_cycle_prompts(pool, 40, 0, "c1", harmless_share=0.5)
    assert sum(p["harmful_level"] == 0 for p in draw) == 20 and len(draw) == 40
    assert Counter(p["method"] for p in draw if p["harmful_level"] == 0) == Counter({"direct": 10, "indirect": 10})
    # asking for more harmless prompts than the pool holds takes them all and fills up with harmful ones
    draw = draw_cycle_prompts(pool, 60, 0, "c1", harmless_share=0.5)
    assert sum(p["harmful_level"] == 0 for p in draw) == 20 and len(draw) == 60


def test_accumulate_keeps_this_cycle_and_the_last_n_earlier_cycles(tmp_path):
    write_jsonl(tmp_path / PREFERENCE_DATA, [{"prompt": "a", "cycle": "c1"}, {"prompt": "b", "cycle": "c2"}, {"prompt": "c", "cycle": "c2"}])
    own = [{"prompt": "d"}]
    rows, counts = accumulate_rows(own, "c3", tmp_path, 0)
    assert rows == [{"prompt": "d", "cycle": "c3"}] and counts == {"c3": 1}
    rows, counts = accumulate_rows(own, "c3", tmp_path, 1)
    assert counts == {"c3": 1, "c2": 2}
    rows, counts = accumulate_rows(own, "c3", tmp_path, 5)
    assert counts == {"c3": 1, "c1": 1, "c2": 2}
    assert accumulate_rows(own, "c1", tmp_path / "missing", 2)[1] == {"c1": 1}  # c0 has no data


def test_sft_weight_adds_trls_sft_loss_on_chosen():
    assert dpo_loss_args(0) == {"loss_type": ["sigmoid"]}
    assert dpo_loss_args(0.25) == {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.25]}
    from trl import DPOConfig

    DPOConfig(output_dir="unused", use_cpu=True, bf16=False, activation_checkpointing=False, **dpo_loss_args(0.25))  # trl accepts the combination


def test_kto_has_its_own_schedule_keys():
    from careal.params import parse_params

    base = {"cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c1"]}}
    own = {"learning_rate": 1e-3, "epochs": 1, "beta": 0.1, "kto_learning_rate": 2e-4, "kto_epochs": 2, "kto_beta": 0.5}
    kto = parse_params({**base, "train": {**own, "method": "kto"}}).train
    assert schedule(kto) == {"learning_rate": 2e-4, "epochs": 2, "beta": 0.5}
    dpo = parse_params({**base, "train": {**own, "method": "dpo"}}).train
    assert schedule(dpo) == {"learning_rate": 1e-3, "epochs": 1, "beta": 0.1}  # DPO never reads them
    unset = parse_params({**base, "train": {"method": "kto", "learning_rate": 1e-3, "kto_learning_rate": None, "kto_beta": 0.3}}).train
    assert schedule(unset) == {"learning_rate": 1e-3, "epochs": unset.epochs, "beta": 0.3}  # null: the shared key


def _logits(model, tokenizer):
    import torch

    enc = tokenizer(["<|user|>\nHow do I book an appointment?<|end|>\n<|assistant|>\n"], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        return model(**enc).logits


@pytest.fixture(scope="module")
def two_cycle_project(tiny_project, tmp_path_factory):
    """The tiny project copied, with c1 trained (DPO on the policy's own pairs, made non-empty)."""
    import shutil

    project = tmp_path_factory.mktemp("controls")
    shutil.copytree(tiny_project, project, dirs_exist_ok=True)
    old = Path.cwd()
    import os

    os.chdir(project)
    try:
        params = small_params()
        params.train.method = "dpo"
        params.train.learning_rate = 5e-3  # move c1 well away from the base so the references differ
        for cycle in ("c1", "c2"):
            pipeline.run_generate(params, cycle)
            pipeline.run_judge(params, cycle)
            pipeline.run_pair(params, cycle)
            rows = [r for r in read_jsonl(f"data/cycles/{cycle}/kto.jsonl") if not r["label"]]
            write_jsonl(f"data/cycles/{cycle}/dpo.jsonl", [{"prompt": r["prompt"], "chosen": "I'm sorry, but I can't help with that.", "rejected": r["completion"]} for r in rows])
        pipeline.run_train(params, "c1")
    finally:
        os.chdir(old)
    return project


@pytest.mark.parametrize("init,ref_policy", [("continue", "previous"), ("continue", "base"), ("fresh", "base"), ("fresh", "previous")])
def test_init_and_ref_policy_choose_the_start_and_the_anchor(two_cycle_project, monkeypatch, init, ref_policy):
    import torch

    from careal.policy.loading import load_policy
    from careal.preference.training import reference_model

    monkeypatch.chdir(two_cycle_project)
    params = small_params()
    params.train.method, params.train.init, params.train.ref_policy, params.train.accumulate = "dpo", init, ref_policy, 1
    base = load_policy("models/base")
    parent = load_policy("models/base", "models/c1")
    ref = reference_model(init, ref_policy, "models/base", "models/c1", params.model)
    expected = {"base": base, "previous": parent}[ref_policy]
    if ref is None:  # trl builds it: adapter disabled (fresh + base) or a frozen copy (continue + previous)
        assert (init, ref_policy) in (("fresh", "base"), ("continue", "previous"))
    else:
        assert torch.allclose(_logits(ref, base.tokenizer), _logits(expected.model, base.tokenizer), atol=1e-5)
        assert not any(p.requires_grad for p in ref.parameters())
    assert not torch.allclose(_logits(base.model, base.tokenizer), _logits(parent.model, base.tokenizer), atol=1e-3)

    lineage = pipeline.run_train(params, "c2")
    assert (lineage["init"], lineage["ref_policy"]) == (init, ref_policy)
    assert lineage["parent_adapter"] == "models/c1" and len(lineage["parent_adapter_sha256"]) == 64
    assert lineage["start_adapter"] == ("models/c1" if init == "continue" else None)
    c1_rows, c2_rows = len(read_jsonl("data/cycles/c1/dpo.jsonl")), len(read_jsonl("data/cycles/c2/dpo.jsonl"))
    assert lineage["data"]["rows_by_cycle"] == {"c2": c2_rows, "c1": c1_rows}  # accumulate: 1 brings c1's rows
    assert lineage["data"]["trained_rows"] == lineage["pairs"] == c1_rows + c2_rows
    saved = read_jsonl(f"models/c2/{PREFERENCE_DATA}")
    assert Counter(r["cycle"] for r in saved) == Counter({"c2": c2_rows, "c1": c1_rows})
    json.loads(Path("models/c2/adapter_config.json").read_text())


def test_c1_is_fresh_and_anchored_to_the_base_whatever_is_asked(two_cycle_project):
    lineage = json.loads((two_cycle_project / "models/c1/lineage.json").read_text())
    assert lineage["init"] == "fresh" and lineage["ref_policy"] == "base" and lineage["parent_adapter"] is None and lineage["start_adapter"] is None
