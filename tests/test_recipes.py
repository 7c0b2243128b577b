"""The recipes for real models (docs/recipes/*.yaml): complete, valid params for the paper's
setting, checked without weights, a GPU or a network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from careal.errors import CarealError
from careal.judges import make_judge
from careal.params import parse_params

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "docs" / "recipes"
EXTERNAL = RECIPES / "paper-llama-3.1-8b-external-judge.yaml"
SELF = RECIPES / "paper-llama-3.1-8b-self-judge.yaml"


@pytest.mark.parametrize("path", [EXTERNAL, SELF], ids=lambda p: p.stem)
def test_recipe_is_complete_valid_params_for_the_paper_setting(path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    # Complete: every section params.yaml has (dvc.yaml depends on each), so it can replace it.
    defaults = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert set(raw) == set(defaults)
    params = parse_params(raw)
    assert params.data.source == "hf:HFXM/CARES-18K"
    assert params.model.base == "meta-llama/Llama-3.1-8B-Instruct"
    assert (params.model.device, params.model.dtype) == ("cuda", "bfloat16")
    assert params.evaluate.policies == ["c0", *params.cycles]
    # The evaluation judge is the same in both recipes, an external model whose key is named.
    assert params.judge.eval.kind == "openai" and params.judge.eval.api_key_env == "OPENAI_API_KEY"
    assert "sk-" not in path.read_text(encoding="utf-8")
    # Every params key a stage of dvc.yaml names is there (DVC stops on a missing one).
    for key in dvc_param_keys():
        node = raw
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{path.name} lacks {key}, which dvc.yaml names"
            node = node[part]


def dvc_param_keys() -> set[str]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    keys = set()
    for spec in stages.values():
        for entry in (spec.get("do") or spec).get("params") or []:
            if isinstance(entry, str):
                keys.add(entry)
    return keys


def test_external_judge_recipe_builds_its_judges_without_network(monkeypatch):
    params = parse_params(yaml.safe_load(EXTERNAL.read_text(encoding="utf-8")))
    train = make_judge(params.judge.train)  # vLLM on 127.0.0.1: no key needed
    assert train.kind == "openai" and train.cacheable
    assert train.identity["base_url"] == "http://127.0.0.1:8000/v1"
    assert train.identity["rubric"] == "cares" and len(train.identity["rubric_sha256"]) == 64
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(CarealError, match="OPENAI_API_KEY .* is not set"):
        make_judge(params.judge.eval)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-0123456789abcdef0123456789")
    evaluation = make_judge(params.judge.eval)
    assert "sk-planted" not in repr(evaluation.identity) and "sk-planted" not in repr(evaluation)


def test_self_judge_recipe_is_self_evaluation_by_the_cares_rubric():
    params = parse_params(yaml.safe_load(SELF.read_text(encoding="utf-8")))
    external = parse_params(yaml.safe_load(EXTERNAL.read_text(encoding="utf-8")))
    assert params.judge.train.kind == "self" and params.judge.train.rubric == "cares"
    # Only the training judge differs between the two recipes.
    assert params.judge.eval == external.judge.eval
    for section in ("data", "model", "generate", "pair", "train", "evaluate", "cycles"):
        assert getattr(params, section) == getattr(external, section), section
    judge = make_judge(params.judge.train, base_dir="models/base", policy_dir="models/c0")  # lazy: no weights read
    assert judge.kind == "self" and judge.template.name == "cares"


def test_the_real_model_cpu_recipe_is_complete_and_runs_the_real_model_on_real_rows():
    path = RECIPES / "smollm2-135m-cpu.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert set(raw) == set(defaults)

    def keys(tree, prefix=""):  # every key path dvc.yaml may name (cycles are the recipe's own)
        return {prefix + k for k, v in tree.items() if k != "cycles"} | {
            p for k, v in tree.items() if isinstance(v, dict) and k != "cycles" for p in keys(v, prefix + k + ".")}

    assert keys(defaults) <= keys(raw), sorted(keys(defaults) - keys(raw))
    params = parse_params(raw)
    assert params.model.base == "builtin:smollm2-135m" and (params.model.device, params.model.dtype) == ("cpu", "float32")
    assert params.data.source == "../shared/data/cares18k-test-sample300.jsonl"
    assert params.evaluate.policies == ["c0", *params.cycles] and len(params.cycles) >= 2
    assert params.pair.fallback_chosen and params.pair.fallback_rejected  # the real model never refuses on its own
    assert params.judge.train.kind == params.judge.eval.kind == "rules"
