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
