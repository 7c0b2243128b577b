from pathlib import Path

import pytest
import yaml

from careal.errors import CarealError
from careal.params import load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_params_parse_and_evaluate_every_cycle():
    params = load_params(ROOT / "params.yaml")
    assert params.model.base == "builtin:tiny"
    assert params.evaluate.policies == ["c0", *params.cycles]
    assert params.parent("c1") == "c0"


def test_unknown_keys_are_errors():
    with pytest.raises(CarealError, match="unknown key.*train.betta"):
        parse_params({"train": {"betta": 0.2}})


def test_wrong_types_are_errors():
    with pytest.raises(CarealError, match="generate.samples must be an integer"):
        parse_params({"generate": {"samples": "four"}})


def test_cycles_need_a_known_parent_and_evaluation_needs_known_policies():
    with pytest.raises(CarealError, match="neither c0 nor a declared cycle"):
        parse_params({"cycles": {"c1": {"prev": "c9"}}})
    with pytest.raises(CarealError, match="evaluate.policies names 'c2'"):
        parse_params({"cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c2"]}})


def test_undeclared_cycle_is_a_clear_error():
    params = parse_params(yaml.safe_load("cycles: {c1: {prev: c0}}\nevaluate: {policies: [c0, c1]}"))
    with pytest.raises(CarealError, match="cycle 'c5' is not declared"):
        params.parent("c5")


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"seed": -1}, "seed is -1; allowed: >= 0"),
        ({"generate": {"samples": -2}}, "generate.samples is -2; allowed: >= 1"),
        ({"generate": {"batch_size": 0}}, "generate.batch_size is 0; allowed: >= 1"),
        ({"generate": {"temperature": 0}}, "generate.temperature is 0.0; allowed: > 0"),
        ({"generate": {"top_p": 1.5}}, "generate.top_p is 1.5; allowed: a number in (0, 1]"),
        ({"data": {"eval_fraction": 1.0}}, "data.eval_fraction is 1.0; allowed: a number in (0, 1)"),
        ({"data": {"eval_fraction": 0}}, "data.eval_fraction is 0.0; allowed: a number in (0, 1)"),
        ({"data": {"train_size": -5}}, "data.train_size is -5; allowed: >= 0"),
        ({"data": {"on_bad_rows": "ignore"}}, "data.on_bad_rows is 'ignore'; allowed: one of error, skip"),
        ({"train": {"lora_dropout": 1.0}}, "train.lora_dropout is 1.0; allowed: a number in [0, 1)"),
        ({"train": {"learning_rate": -0.1}}, "train.learning_rate is -0.1"),
        ({"train": {"method": "ppo"}}, "train.method is 'ppo'; allowed: one of kto, dpo"),
        ({"train": {"kto_desirable_weight": -1}}, "train.kto_desirable_weight is -1.0; allowed: auto or > 0"),
        ({"train": {"kto_desirable_weight": "lots"}}, "train.kto_desirable_weight is 'lots'; allowed: auto or > 0"),
        ({"train": {"method": "kto", "batch_size": 1}}, "train.batch_size is 1; allowed with train.method kto: >= 2"),
        ({"train": {"kto_learning_rate": 2}}, "train.kto_learning_rate is 2.0; allowed: null or a number in (0, 1)"),
        ({"train": {"kto_epochs": 0}}, "train.kto_epochs is 0; allowed: null or >= 1"),
        ({"train": {"kto_beta": "high"}}, "train.kto_beta must be a number or null"),
        ({"model": {"dtype": "int8"}}, "model.dtype is 'int8'; allowed: one of auto, float32"),
        ({"model": {"trust_remote_code": "yes"}}, "model.trust_remote_code must be true or false"),
        ({"model": {"revision": 3}}, "model.revision must be a text or null"),
        ({"bootstrap": {"hidden_size": 66, "num_heads": 4}}, "bootstrap.hidden_size (66) must be a multiple of bootstrap.num_heads (4)"),
        ({"evaluate": {"policies": "c0"}}, "evaluate.policies must be a list of texts"),
        ({"evaluate": {"policies": ["c0", "c0"]}}, "lists a policy twice"),
        ({"cycles": {"c1": {"prev": "c2"}, "c2": {"prev": "c1"}}, "evaluate": {"policies": ["c0"]}}, "cycles form a loop: c1 -> c2 -> c1"),
        ({"cycles": {"c1": {"prev": "c1"}}, "evaluate": {"policies": ["c0"]}}, "cycles.c1.prev is the cycle itself"),
        ({"cycles": {"c1": {"prev": "c7"}}, "evaluate": {"policies": ["c0"]}}, "cycles.c1.prev is 'c7', which is neither c0 nor a declared cycle"),
        ({"cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c1", "c4"]}}, "evaluate.policies names 'c4'"),
        ({"cycles": ["c1"]}, "cycles must be a mapping"),
    ],
)
def test_every_bad_value_is_one_clear_error_naming_key_and_allowed(raw, words):
    raw = {"cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c1"]}, **raw} if "cycles" not in raw and "evaluate" not in raw else raw
    with pytest.raises(CarealError) as info:
        parse_params(raw)
    message = str(info.value)
    assert message.startswith("params.yaml: ") and "\n" not in message
    assert words in message


def test_every_numeric_key_has_a_range_rule_and_every_rule_a_key():
    """Adding a numeric key to careal/params/sections.py? Add its line to careal.params.RULES."""
    import dataclasses
    import typing

    from careal.params import RULES, Params
    from careal.params.parse import _lookup

    defaults = Params()
    missing = []

    def walk(obj, prefix):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            key = prefix + f.name
            if dataclasses.is_dataclass(value):
                walk(value, key + ".")
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and key not in RULES:
                missing.append(key)

    walk(defaults, "")
    assert missing == [], f"add these keys to careal.params.RULES: {missing}"
    for key, rule in RULES.items():
        assert rule.test(_lookup(defaults, key)), f"the default of {key} breaks its own rule"


def test_bad_params_stop_before_any_work(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from careal.cli import main

    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["generate"]["samples"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["prepare"])
    assert result.exit_code == 2
    assert result.output.strip() == "careal: error: params.yaml: generate.samples is -1; allowed: >= 1"
    assert list(tmp_path.iterdir()) == [tmp_path / "params.yaml"]
