"""Typed views of params.yaml: one documented dataclass per section, as DVC tracks them.

Each stage reads only its own section (plus ``seed``, ``model`` and ``cycles`` where it
needs them), and ``dvc.yaml`` lists exactly those sections as the stage's ``params``, so
changing ``train.beta`` reruns train and what follows, never prepare or bootstrap.
Unknown keys are errors: a typo in params.yaml must not be silently ignored.

Where each part lives:

- ``sections.py``: one dataclass per params.yaml section (a judge's own options are
  ``careal.judges.spec.JudgeSpec``), and ``Params``, the whole file;
- ``rules.py``: ``RULES``, the range or choice of every key, one line each;
- ``parse.py``: reading and checking params.yaml (``load_params``, ``parse_params``).

Checks, all before any work starts (``parse_params``):

- types come from the dataclass annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``,
  ``float | str``, ``list[str]``, ...): ``generate.samples: four`` is an error naming the key;
- ranges and choices come from the table ``RULES`` (rules.py): one line per key, e.g.
  ``"generate.samples": at_least(1),`` or ``"train.method": one_of("kto", "dpo"),``. **Adding a
  numeric key? Add its line to RULES** (tests/test_params.py fails for a numeric key without
  one). Helpers: ``at_least``, ``above``, ``between`` (open/closed ends), ``one_of``,
  ``auto_or``, ``non_empty``; or ``Rule(allowed="words shown to the user", test=callable)``;
- relations between keys (cycles and their parents, evaluate.policies, heads dividing the
  hidden size, KTO's batch size) are checked in ``parse._check_relations``.

Every failure is one ``CarealError``: ``params.yaml: <key> is <value>; allowed: <what>``.
"""

from careal.judges.spec import JudgeSpec
from careal.policy.tiny import BUILTIN_MODEL
from careal.params.parse import load_params, parse_params
from careal.params.rules import RULES, Rule
from careal.params.sections import (
    BootstrapParams,
    CpuParams,
    DataParams,
    EvaluateParams,
    GenerateParams,
    JudgeParams,
    JudgeTrainParams,
    ModelParams,
    PairParams,
    Params,
    TrainParams,
)

__all__ = [
    "BUILTIN_MODEL",
    "RULES",
    "BootstrapParams",
    "CpuParams",
    "DataParams",
    "EvaluateParams",
    "GenerateParams",
    "JudgeParams",
    "JudgeSpec",
    "JudgeTrainParams",
    "ModelParams",
    "PairParams",
    "Params",
    "Rule",
    "TrainParams",
    "load_params",
    "parse_params",
]
