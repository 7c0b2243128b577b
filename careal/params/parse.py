"""Reading params.yaml: types from the dataclass annotations (``careal.params.sections``),
ranges from ``careal.params.rules.RULES``, then the relations between keys (cycles and their
parents, evaluate.policies, heads dividing the hidden size, KTO's batch size); API-key-shaped
values are refused. Every failure is one ``CarealError`` naming the key."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

import yaml

from careal.errors import CarealError
from careal.params.rules import RULES
from careal.params.sections import Params

CYCLE_NAME = re.compile(r"^c[0-9]+$")


def _type_name(hint) -> str:
    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint) or (None,)
        return "a list of " + {str: "texts", int: "integers", float: "numbers"}.get(item, "items")
    if origin is dict or hint is dict:
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a text"}.get(hint, getattr(hint, "__name__", str(hint)))


_MISMATCH = object()


def _typed(value, hint):
    """``value`` as ``hint`` (an int where a float is expected becomes a float), or _MISMATCH."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            typed = _typed(value, arm)
            if typed is not _MISMATCH:
                return typed
        return _MISMATCH
    if hint is type(None):
        return None if value is None else _MISMATCH
    if hint is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _MISMATCH
    if hint is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _MISMATCH
    if hint is str:
        return value if isinstance(value, str) else _MISMATCH
    if origin is list:
        if not isinstance(value, list):
            return _MISMATCH
        (item,) = typing.get_args(hint) or (typing.Any,)
        typed = [_typed(v, item) for v in value]
        return _MISMATCH if any(t is _MISMATCH for t in typed) else typed
    if origin is dict or hint is dict:
        return value if isinstance(value, dict) else _MISMATCH
    return value


def _build(cls, raw, where: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise CarealError(f"params.yaml: '{where or 'top level'}' must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    prefix = f"{where}." if where else ""
    unknown = sorted(set(map(str, raw)) - set(fields))
    if unknown:
        raise CarealError(f"params.yaml: unknown key(s) {', '.join(prefix + k for k in unknown)} (known: {', '.join(prefix + k for k in fields)})")
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, prefix + name)
            continue
        typed = _typed(value, hint)
        if typed is _MISMATCH:
            raise CarealError(f"params.yaml: {prefix}{name} must be {_type_name(hint)}, got {value!r}")
        values[name] = typed
    return cls(**values)


def _lookup(params, key: str):
    node = params
    for part in key.split("."):
        node = getattr(node, part)
    return node


def check_ranges(params: "Params") -> None:
    """Every key of ``RULES`` against its rule (one CarealError for the first that fails)."""
    for key, rule in RULES.items():
        value = _lookup(params, key)
        if not rule.test(value):
            raise CarealError(f"params.yaml: {key} is {value!r}; allowed: {rule.allowed}")


def _check_relations(params: "Params", cycles_raw: dict) -> dict[str, str]:
    cycles = {}
    for name, spec in cycles_raw.items():
        if not CYCLE_NAME.match(str(name)) or name == "c0":
            raise CarealError(f"params.yaml: cycle name {name!r} must look like c1, c2, ... (c0 is the base policy)")
        if not isinstance(spec, dict) or set(spec) != {"prev"}:
            raise CarealError(f"params.yaml: cycles.{name} must be {{prev: <parent>}}, got {spec!r}")
        prev = str(spec["prev"])
        if prev != "c0" and prev not in cycles_raw:
            raise CarealError(f"params.yaml: cycles.{name}.prev is {prev!r}, which is neither c0 nor a declared cycle (declared: {', '.join(map(str, cycles_raw))})")
        if prev == name:
            raise CarealError(f"params.yaml: cycles.{name}.prev is the cycle itself; allowed: c0 or another declared cycle")
        cycles[str(name)] = prev
    # Every cycle needs an ancestry that reaches c0 (no loops).
    for name in cycles:
        seen, node = [], name
        while node != "c0":
            if node in seen:
                raise CarealError(f"params.yaml: cycles form a loop: {' -> '.join(seen + [node])} (every chain of prev must end at c0)")
            seen.append(node)
            node = cycles[node]
    from careal.policy.backends import check_backend

    check_backend(params.generate, "generate")
    check_backend(params.evaluate, "evaluate")
    params.judge.train.check("judge.train")
    params.judge.eval.check("judge.eval")
    params.judge.select.check("judge.select")
    from careal.judges.spec import JudgeSpec

    others = []
    for index, raw in enumerate(params.select.other_validators):  # a list of judges: each one built and checked
        where = f"select.other_validators[{index}]"
        spec = raw if isinstance(raw, JudgeSpec) else _build(JudgeSpec, raw, where)
        spec.check(where)
        others.append(spec)
    params.select.other_validators = others
    policies = params.evaluate.policies
    for policy in policies:
        if policy != "c0" and policy not in cycles:
            raise CarealError(f"params.yaml: evaluate.policies names {policy!r}, which is neither c0 nor a declared cycle (allowed: c0, {', '.join(cycles) or 'no cycles declared'})")
    if len(set(policies)) != len(policies):
        raise CarealError(f"params.yaml: evaluate.policies lists a policy twice: {policies}")
    if params.bootstrap.hidden_size % params.bootstrap.num_heads:
        raise CarealError(f"params.yaml: bootstrap.hidden_size ({params.bootstrap.hidden_size}) must be a multiple of bootstrap.num_heads ({params.bootstrap.num_heads})")
    for section, where in ((params.train, "train"), (params.judge_train, "judge_train")):
        if section.launcher == "python" and section.num_processes != 1:
            raise CarealError(f"params.yaml: {where}.num_processes is {section.num_processes}; allowed with {where}.launcher python: 1 (set {where}.launcher: accelerate for more)")
        if section.batch_size % section.num_processes:
            raise CarealError(f"params.yaml: {where}.batch_size ({section.batch_size}) must be a multiple of {where}.num_processes ({section.num_processes}): it is the global batch, split evenly between the processes")
    if params.train.method == "kto" and params.train.batch_size // params.train.num_processes < 2:
        raise CarealError(f"params.yaml: train.batch_size is {params.train.batch_size}; allowed with train.method kto: >= 2 per process (trl's KTO needs a batch larger than 1; {params.train.num_processes} process(es))")
    return cycles


API_KEY_PATTERN = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,})")
"""Shapes of common API keys and tokens (OpenAI/Anthropic, Hugging Face, GitHub, AWS, Google)."""


def _refuse_secrets(raw, where: str = "") -> None:
    """API keys belong in the environment, never in params.yaml (it is committed, and DVC copies
    params into dvc.lock and experiment records). The message names the key, not the value."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            _refuse_secrets(value, f"{where}.{key}" if where else str(key))
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            _refuse_secrets(value, f"{where}[{index}]")
    elif isinstance(raw, str) and API_KEY_PATTERN.search(raw):
        raise CarealError(f"params.yaml: {where} looks like an API key; keys are read only from environment variables, never from params")


def parse_params(raw: dict) -> Params:
    """Check and type the content of params.yaml: types, ranges, relations (module doc)."""
    if not isinstance(raw, dict):
        raise CarealError("params.yaml: expected a mapping at the top level")
    _refuse_secrets(raw)
    raw = dict(raw)
    cycles_raw = raw.pop("cycles", {}) or {}
    if not isinstance(cycles_raw, dict):
        raise CarealError(f"params.yaml: cycles must be a mapping of cycle name to {{prev: <parent>}}, got {cycles_raw!r}")
    params = _build(Params, raw, "")
    check_ranges(params)
    params.cycles = _check_relations(params, cycles_raw)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise CarealError(f"{path}: not found (run careal from the project root, where params.yaml lives)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CarealError(f"{path}: not valid YAML ({exc})") from None
    return parse_params(raw)
