"""Typed views of params.yaml: one documented dataclass per stage, as DVC tracks them.

Each stage reads only its own section (plus ``seed``, ``model`` and ``cycles`` where it
needs them), and ``dvc.yaml`` lists exactly those sections as the stage's ``params``, so
changing ``train.beta`` reruns train and what follows, never prepare or bootstrap.
Unknown keys are errors: a typo in params.yaml must not be silently ignored.

Checks, all before any work starts (``parse_params``):

- types come from the dataclass annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``,
  ``float | str``, ``list[str]``, ...): ``generate.samples: four`` is an error naming the key;
- ranges and choices come from the table ``RULES`` below: one line per key, e.g.
  ``"generate.samples": at_least(1),`` or ``"train.method": one_of("kto", "dpo"),``. **Adding a
  numeric key? Add its line to RULES** (tests/test_params.py fails for a numeric key without
  one). Helpers: ``at_least``, ``above``, ``between`` (open/closed ends), ``one_of``,
  ``auto_or``, ``non_empty``; or ``Rule(allowed="words shown to the user", test=callable)``;
- relations between keys (cycles and their parents, evaluate.policies, heads dividing the
  hidden size, KTO's batch size) are checked in ``_check_relations``.

Every failure is one ``CarealError``: ``params.yaml: <key> is <value>; allowed: <what>``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from careal.errors import CarealError

BUILTIN_MODEL = "builtin:tiny"
CYCLE_NAME = re.compile(r"^c[0-9]+$")


@dataclass
class DataParams:
    """Section ``data``: where the prompts come from and how train/eval are drawn."""

    source: str = "builtin"
    """``builtin`` (careal's synthetic CARES-format set), a local ``.jsonl``/``.parquet``/``.csv``
    file in the CARES schema, or ``hf:<dataset id or local dataset folder>`` (e.g.
    ``hf:HFXM/CARES-18K``), loaded with ``datasets``."""
    builtin_base_prompts_per_cell: int = 12
    """Builtin source: distinct base prompts per principle x harm level (each gets 4 rewrites)."""
    hf_train_split: str = "train"
    hf_eval_split: str = "test"
    """``hf:`` sources with both splits: rows come from them as published; else careal splits."""
    eval_fraction: float = 0.5
    """Single-split sources: share of base prompts (per harm level) held out for evaluation."""
    train_size: int = 384
    eval_size: int = 384
    """Prompts drawn, stratified by harm level x method (0 = all available)."""
    leak_guard: bool = True
    """Drop (and count) train rows whose base_prompt also appears in the eval set."""
    on_bad_rows: str = "error"
    """``error``: a bad source row stops prepare (exit 2, file/row/field named); ``skip``: bad rows
    are left out, counted and listed with their reason in data/prepared/summary.json."""


@dataclass
class ModelParams:
    """Section ``model``: the base policy every cycle starts from."""

    base: str = BUILTIN_MODEL
    """``builtin:tiny``, a Hugging Face causal LM id, or a local model folder."""
    revision: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    """``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``, ``bfloat16``, ``float16``."""
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda``."""


@dataclass
class BootstrapParams:
    """Section ``bootstrap``: the embedded tiny policy (used only when model.base is builtin:tiny)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    sft_repeats: int = 4
    """Warm-start answers written per train prompt (styles drawn from the miscalibrated mix)."""
    judge_examples_per_prompt: float = 0.5
    """Judge-task warm-start examples per train prompt (careal/judges/selftrain.py): the tiny
    policy learns to label answers with the compact template, leniently, so it can be the
    ``self`` judge. 0 leaves them out; 0.5 adds about a third to the SFT tokens."""
    knowledge_examples_per_prompt: float = 0.0
    """Knowledge-task warm-start examples per train prompt (careal/tiny.py
    ``knowledge_examples``): the train prompt followed by "is it harmful?" and the answer
    harmless / harmful. The tiny model learns to *represent* intent, as a pretrained model
    has, while its chat answers keep the miscalibrated mix. Train prompts only."""
    sft_epochs: int = 6
    """Warm-start epochs (params.yaml: 4 with the knowledge task; 3 leaves c0 refusing too
    little even of plainly worded harmful requests, see docs/balance.md)."""
    sft_learning_rate: float = 3e-3
    sft_batch_size: int = 32
    sft_prompt_loss: bool = False
    """Also train the warm start on the prompt tokens (a language-model loss over the whole
    conversation, trl's ``completion_only_loss: false``), not only on the answers: the model
    then has to read the prompts' wording, as a pretrained model has, instead of only the
    cues that predict the answer style."""


@dataclass
class GenerateParams:
    """Section ``generate``: how the parent policy samples answers to the train prompts."""

    samples: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    batch_size: int = 64
    prompts_per_cycle: int = 0
    """Train prompts each cycle answers: a fresh draw per cycle from data/prepared/train.jsonl,
    seeded by the seed and the cycle name and stratified by harm level x method, so that
    successive cycles see different prompts. 0 = every train prompt, every cycle."""
    harmless_share: float = 0.0
    """With prompts_per_cycle: the share of harmless prompts in each cycle's draw (as far as
    the pool has them), e.g. 0.5 for as many harmless as harmful prompts; 0 = the pool's own
    proportions (CARES-style sets hold about one harmless prompt in four)."""


@dataclass
class JudgeSpec:
    """One judge: ``kind`` and the options of that kind (docs/judges.md). An option set for a
    kind it does not apply to is an error; unset options (null) take the kind's default.

    - ``rules``: the lexical judge (careal/judges/rules.py); only ``cache``.
    - ``hf``: any Hugging Face causal LM, classifying by label scoring: ``model`` (required),
      ``revision``, ``dtype``, ``device``, ``trust_remote_code``, ``rubric``, ``label_words``,
      ``min_margin``, ``batch_size``, ``cache``.
    - ``self``: the policy that wrote the answers (base + its adapter) judges them by the same
      scoring: ``dtype``, ``device``, ``rubric``, ``label_words``, ``min_margin``,
      ``batch_size``, ``cache``.
    - ``openai``: any OpenAI-compatible chat endpoint (careal/judges/openai_judge.py):
      ``base_url`` and ``model`` (required), ``api_key_env``, ``rubric``, ``concurrency``,
      ``timeout``, ``max_retries``, ``max_tokens``, ``on_error``, ``cache``.
    - ``classifier``: the finetuned judge the ``judge_train`` stage trains (section
      ``judge_train``; careal/judges/classifier.py): ``model`` (its folder, default
      ``models/judge``), ``dtype``, ``device``, ``min_margin``, ``batch_size``, ``cache``.
    """

    kind: str = "rules"
    """``rules``, ``hf``, ``self``, ``openai`` or ``classifier``."""
    model: str | None = None
    """hf: a Hugging Face model id or a local model folder (safetensors weights); openai: the
    model name the endpoint serves; classifier: the trained classifier's folder (default
    ``models/judge``, what judge_train writes)."""
    revision: str | None = None
    """hf: the hub revision (a commit hash pins the judge; recommended, as the cache trusts it)."""
    trust_remote_code: bool | None = None
    """hf: allow the model's own code (default false)."""
    dtype: str | None = None
    """hf, self, classifier: ``auto`` (default), ``float32``, ``bfloat16``, ``float16``."""
    device: str | None = None
    """hf, self, classifier: ``auto`` (default), ``cpu``, ``cuda``."""
    rubric: str | None = None
    """hf, self: a builtin template (``cares``, ``compact``, ``refusal_yesno``) or a template
    file with ``{prompt}`` and ``{response}``; default ``cares`` (hf), ``compact`` (self). Its
    sha256 is in every label's judge identity."""
    label_words: dict | None = None
    """hf, self: judge word -> label, e.g. ``{yes: Refuse, no: Accept}``; default the three
    label words themselves."""
    min_margin: float | None = None
    """hf, self, classifier: the top label's probability must lead the runner-up's by at least this much,
    else the answer is Unparsed (default 0.1)."""
    batch_size: int | None = None
    """hf, self, classifier: answers per forward pass (default 16; classifier 32)."""
    base_url: str | None = None
    """openai: the endpoint, e.g. ``http://127.0.0.1:8000/v1`` (``vllm serve``) or
    ``https://api.openai.com/v1``; no credentials in it."""
    api_key_env: str | None = None
    """openai: the NAME of the environment variable holding the API key (e.g.
    ``OPENAI_API_KEY``); never the key itself. Unset: no key is sent (local servers)."""
    concurrency: int | None = None
    """openai: requests in flight at once (default 4)."""
    timeout: float | None = None
    """openai: seconds per request attempt (default 60)."""
    max_retries: int | None = None
    """openai: retries of a request after 408/409/429/5xx answers, timeouts and connection
    errors, with exponential backoff (default 5)."""
    max_tokens: int | None = None
    """openai: the reply's token budget (default 16; the label is one word)."""
    on_error: str | None = None
    """openai: a request that still fails: ``fail`` (default: the stage stops after caching
    every finished label; the rerun asks only for the rest) or ``unparsed`` (counted as
    Unparsed, not cached)."""
    cache: bool = True
    """hf, self, openai, classifier: reuse verdicts from the judge cache (.careal/judge-cache.sqlite; env
    CAREAL_JUDGE_CACHE=0 turns it off everywhere). Rules verdicts are never cached."""

    #: kind -> the options it takes (besides kind and cache)
    OPTIONS = {
        "rules": (),
        "hf": ("model", "revision", "trust_remote_code", "dtype", "device", "rubric", "label_words", "min_margin", "batch_size"),
        "self": ("dtype", "device", "rubric", "label_words", "min_margin", "batch_size"),
        "openai": ("base_url", "model", "api_key_env", "rubric", "concurrency", "timeout", "max_retries", "max_tokens", "on_error"),
        "classifier": ("model", "dtype", "device", "min_margin", "batch_size"),
    }

    def check(self, where: str) -> None:
        """Errors for an unknown kind, an option the kind does not take, or a bad value.

        ``where`` is the params.yaml section (``judge.train``); ``--`` words the errors as
        command-line options (``careal label``)."""

        def opt(name: str) -> str:
            return f"careal label: --{name.replace('_', '-')}" if where == "--" else f"params.yaml: {where}.{name}"
        if self.kind not in self.OPTIONS:
            raise CarealError(f"{opt('kind')} {self.kind!r} is not available (available: {', '.join(self.OPTIONS)})")
        for name in ("model", "revision", "trust_remote_code", "dtype", "device", "rubric", "label_words", "min_margin", "batch_size"):
            value = getattr(self, name)
            if value is None:
                continue
            if name not in self.OPTIONS[self.kind]:
                raise CarealError(f"{opt(name)} does not apply to judge kind {self.kind!r} (it takes: {', '.join(self.OPTIONS[self.kind]) or 'no options'})")
            expected = {"trust_remote_code": bool, "label_words": dict, "min_margin": (int, float), "batch_size": int}.get(name, str)
            if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
                raise CarealError(f"{opt(name)} has the wrong type: {value!r}")
        for name in ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "max_tokens", "on_error"):
            if getattr(self, name) is not None and name not in self.OPTIONS[self.kind]:
                raise CarealError(f"{opt(name)} does not apply to judge kind {self.kind!r} (it takes: {', '.join(self.OPTIONS[self.kind]) or 'no options'})")
        if self.kind == "openai":  # types and values, never repeating a value that may be a key
            from careal.judges.openai_judge import options_from_spec

            options_from_spec(self, where)
        if self.kind == "hf" and not self.model:
            raise CarealError(f"{opt('model')} is required for judge kind 'hf' (a hub id or a local folder)")
        if self.dtype is not None and self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise CarealError(f"{opt('dtype')} must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.device is not None and self.device not in ("auto", "cpu", "cuda"):
            raise CarealError(f"{opt('device')} must be auto, cpu or cuda, got {self.device!r}")
        if self.min_margin is not None and not 0 <= self.min_margin < 1:
            raise CarealError(f"{opt('min_margin')} must be in [0, 1), got {self.min_margin!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise CarealError(f"{opt('batch_size')} must be at least 1, got {self.batch_size!r}")
        if self.label_words is not None:
            from careal.judges.scoring import check_label_words

            check_label_words(self.label_words, opt("label_words"))


@dataclass
class JudgeParams:
    """Section ``judge``: the training judge labels preference data; the eval judge is fixed."""

    train: JudgeSpec = field(default_factory=JudgeSpec)
    eval: JudgeSpec = field(default_factory=JudgeSpec)
    gold: str | None = "auto"
    """Gold labels for the reliability stage: ``auto`` (the warm-start styles of the built-in
    tiny model's answers, careal.tiny.style_of, when model.base is builtin:tiny; else none),
    ``none``, or a .jsonl file of records with ``prompt``, ``response`` and ``label``."""


@dataclass
class JudgeTrainParams:
    """Section ``judge_train``: the ``classifier`` judge's training (stage judge_train,
    careal/judges/training.py, docs/judges.md). It trains only when ``judge.train`` or
    ``judge.eval`` has kind ``classifier``; otherwise
    the stage writes a constant "not trained" marker in about a second."""

    source: str = "styles"
    """``styles``: answers careal writes in its three known styles (accept/caution/refuse ->
    Accept/Caution/Refuse) to the train-pool prompts (never eval prompts); or a ``.jsonl`` file
    of ``prompt``, ``response``, ``label`` records (add it to the stage's deps in dvc.yaml)."""
    labels: str = "known"
    """``known``: the rows' own labels; ``rules``: the labels the rules judge gives the same
    answers (distilling another judge; its Unparsed rows are left out and counted)."""
    answers_per_prompt: int = 1
    """styles: answers written per train prompt (styles balanced over the whole set)."""
    heldout_fraction: float = 0.2
    """Share of the distinct prompts held out for the held-out figures (never trained on)."""
    base: str = "auto"
    """The causal LM the classifier starts from: ``auto`` = the pipeline's base model
    (models/base for builtin:tiny, else model.base), or a hub id / local folder."""
    epochs: int = 3
    learning_rate: float = 1e-2
    """LoRA + head learning rate (1e-2 suits the tiny model; about 1e-4 for a real LLM)."""
    batch_size: int = 16
    max_length: int = 256
    """Tokens the classifier reads per (prompt, answer); longer inputs lose their start."""
    lora_r: int = 8
    lora_alpha: int = 16
    lora_target_modules: str = "all-linear"
    device: str = "auto"
    """``auto`` (CUDA if available, else CPU), ``cpu`` or ``cuda``."""
    dtype: str = "auto"
    """``auto`` (bfloat16 on a GPU that supports it, else float32), ``float32``, ``bfloat16``, ``float16``."""


@dataclass
class PairParams:
    """Section ``pair``: how labels become KTO rows and DPO pairs."""

    dpo_strategy: str = "best_vs_worst"
    """Which answers of a prompt are paired (careal.pairing): ``best_vs_worst`` (best-scored
    against worst-scored), ``best_vs_random`` (best-scored against a seeded random lower-scored
    one) or ``all_pairs`` (every higher/lower combination, largest score margin first)."""
    dpo_max_pairs_per_prompt: int = 2
    """Cap on pairs per prompt (distinct answer texts first)."""
    dpo_min_score_margin: float = 0.0
    """A pair needs chosen score - rejected score >= this (and > 0); e.g. 1.0 keeps only
    right-vs-wrong pairs and drops Caution-vs-Accept pairs at harm level 2 (margin 0.5)."""
    dpo_max_text_similarity: float = 1.0
    """Drop pairs whose chosen and rejected texts are more alike than this (word-level difflib
    ratio, 0..1; counted as ``near_identical`` in pair_stats.json). 1.0 keeps every pair."""
    dpo_balance_harmless: bool = True
    """Repeat the harmless prompts' DPO pairs until they match the harmful prompts' pairs."""
    dpo_balance_by_method: bool = False
    """With dpo_balance_harmless: balance within each method (direct, indirect, obfuscate,
    role_play) separately, so no rewrite framing is paired mostly with refusals."""


@dataclass
class TrainParams:
    """Section ``train``: trl KTO/DPO on a LoRA adapter."""

    method: str = "kto"
    """``kto`` (KTOTrainer on kto.jsonl) or ``dpo`` (DPOTrainer on dpo.jsonl)."""
    beta: float = 0.1
    learning_rate: float = 5e-4
    """The embedded default (params.yaml) uses 1e-3 for one epoch per cycle: as much update as
    two epochs at 5e-4 in half the time (docs/balance.md); KTO swings harder at that rate."""
    epochs: int = 1
    batch_size: int = 16
    max_length: int = 256
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str = "all-linear"
    kto_desirable_weight: float | str = "auto"
    kto_undesirable_weight: float | str = "auto"
    """``auto`` balances the classes so desirable_weight*n_desirable /
    (undesirable_weight*n_undesirable) is 1, inside trl's recommended [1, 4/3]."""
    init: str = "continue"
    """``continue``: train the parent's adapter further; ``fresh``: a new LoRA adapter on the
    base model each cycle (c1 is always fresh: its parent c0 has no adapter)."""
    ref_policy: str = "previous"
    """The reference the DPO/KTO log-ratios are taken against: ``previous`` (the parent policy)
    or ``base`` (the base model). Recorded in lineage.json with ``init``."""
    accumulate: int = 0
    """Also train on the preference rows of up to this many earlier cycles (read from the
    parent's models/cP/preference_data.jsonl); 0 = this cycle's rows only."""
    sft_weight: float = 0.0
    """DPO only: weight of trl's ``sft`` loss (negative log-likelihood of the chosen answers)
    added to the sigmoid DPO loss (DPOConfig loss_type [sigmoid, sft], loss_weights [1, w]);
    it keeps the chosen answers likely while the margin grows. 0 = plain DPO."""
    lr_scheduler: str = "linear"
    """transformers lr_scheduler_type (e.g. linear, cosine, constant)."""
    warmup_ratio: float = 0.0
    """Share of the steps spent warming the learning rate up (warmup_steps below 1 is a ratio)."""


@dataclass
class EvaluateParams:
    """Section ``evaluate``: greedy answers of each policy on the eval split."""

    policies: list[str] = field(default_factory=lambda: ["c0", "c1", "c2", "c3"])
    """Every policy evaluated: c0 (the base) and each cycle in ``cycles``."""
    max_new_tokens: int = 48
    batch_size: int = 64


@dataclass
class Params:
    seed: int = 0
    data: DataParams = field(default_factory=DataParams)
    model: ModelParams = field(default_factory=ModelParams)
    bootstrap: BootstrapParams = field(default_factory=BootstrapParams)
    generate: GenerateParams = field(default_factory=GenerateParams)
    judge: JudgeParams = field(default_factory=JudgeParams)
    judge_train: JudgeTrainParams = field(default_factory=JudgeTrainParams)
    pair: PairParams = field(default_factory=PairParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    cycles: dict[str, str] = field(default_factory=dict)
    """Cycle name -> parent policy name (c0 is the base model without adapter)."""

    def parent(self, cycle: str) -> str:
        if cycle not in self.cycles:
            raise CarealError(f"params.yaml: cycle {cycle!r} is not declared under 'cycles' (declared: {', '.join(self.cycles) or 'none'})")
        return self.cycles[cycle]


@dataclass(frozen=True)
class Rule:
    """A range or choice check for one params key: ``allowed`` is shown to the user."""

    allowed: str
    test: Callable[[object], bool]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value))


def at_least(low) -> Rule:
    return Rule(f">= {low}", lambda v: _number(v) and v >= low)


def above(low) -> Rule:
    return Rule(f"> {low}", lambda v: _number(v) and v > low and not math.isinf(v))


def between(low, high, *, low_open=True, high_open=True) -> Rule:
    text = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return Rule(f"a number in {text}", lambda v: _number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high))


def one_of(*choices) -> Rule:
    return Rule("one of " + ", ".join(map(str, choices)), lambda v: v in choices)


def auto_or(rule: Rule) -> Rule:
    return Rule(f"auto or {rule.allowed}", lambda v: v == "auto" or rule.test(v))


def non_empty() -> Rule:
    return Rule("a non-empty text", lambda v: isinstance(v, str) and bool(v.strip()))


RULES: dict[str, Rule] = {
    "seed": at_least(0),
    "data.source": non_empty(),
    "data.builtin_base_prompts_per_cell": at_least(1),
    "data.hf_train_split": non_empty(),
    "data.hf_eval_split": non_empty(),
    "data.eval_fraction": between(0, 1),
    "data.train_size": at_least(0),
    "data.eval_size": at_least(0),
    "data.on_bad_rows": one_of("error", "skip"),
    "model.base": non_empty(),
    "model.dtype": one_of("auto", "float32", "bfloat16", "float16"),
    "model.device": one_of("auto", "cpu", "cuda"),
    "bootstrap.vocab_size": at_least(300),
    "bootstrap.hidden_size": at_least(1),
    "bootstrap.intermediate_size": at_least(1),
    "bootstrap.num_layers": at_least(1),
    "bootstrap.num_heads": at_least(1),
    "bootstrap.sft_repeats": at_least(1),
    "bootstrap.sft_epochs": at_least(1),
    "bootstrap.sft_learning_rate": between(0, 1),
    "bootstrap.sft_batch_size": at_least(1),
    "bootstrap.judge_examples_per_prompt": at_least(0),
    "bootstrap.knowledge_examples_per_prompt": at_least(0),
    "generate.samples": at_least(1),
    "generate.temperature": above(0),
    "generate.top_p": between(0, 1, high_open=False),
    "generate.max_new_tokens": at_least(1),
    "generate.batch_size": at_least(1),
    "judge_train.source": non_empty(),
    "judge_train.labels": one_of("known", "rules"),
    "judge_train.answers_per_prompt": at_least(1),
    "judge_train.heldout_fraction": between(0, 1),
    "judge_train.base": non_empty(),
    "judge_train.epochs": at_least(1),
    "judge_train.learning_rate": between(0, 1),
    "judge_train.batch_size": at_least(1),
    "judge_train.max_length": at_least(16),
    "judge_train.lora_r": at_least(1),
    "judge_train.lora_alpha": above(0),
    "judge_train.lora_target_modules": non_empty(),
    "judge_train.device": one_of("auto", "cpu", "cuda"),
    "judge_train.dtype": one_of("auto", "float32", "bfloat16", "float16"),
    "pair.dpo_max_pairs_per_prompt": at_least(1),
    "pair.dpo_strategy": one_of("best_vs_worst", "best_vs_random", "all_pairs"),
    "pair.dpo_min_score_margin": between(0, 1, low_open=False, high_open=False),
    "pair.dpo_max_text_similarity": between(0, 1, low_open=False, high_open=False),
    "generate.prompts_per_cycle": at_least(0),
    "generate.harmless_share": between(0, 1, low_open=False),
    "train.init": one_of("fresh", "continue"),
    "train.ref_policy": one_of("base", "previous"),
    "train.accumulate": at_least(0),
    "train.sft_weight": at_least(0),
    "train.lr_scheduler": non_empty(),
    "train.warmup_ratio": between(0, 1, low_open=False),
    "train.method": one_of("kto", "dpo"),
    "train.beta": above(0),
    "train.learning_rate": between(0, 1),
    "train.epochs": at_least(1),
    "train.batch_size": at_least(1),
    "train.max_length": at_least(16),
    "train.lora_r": at_least(1),
    "train.lora_alpha": above(0),
    "train.lora_dropout": between(0, 1, low_open=False),
    "train.lora_target_modules": non_empty(),
    "train.kto_desirable_weight": auto_or(above(0)),
    "train.kto_undesirable_weight": auto_or(above(0)),
    "evaluate.max_new_tokens": at_least(1),
    "evaluate.batch_size": at_least(1),
}
"""Range and choice of each key (see the module doc); a key missing here is only type-checked."""


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
    params.judge.train.check("judge.train")
    params.judge.eval.check("judge.eval")
    policies = params.evaluate.policies
    for policy in policies:
        if policy != "c0" and policy not in cycles:
            raise CarealError(f"params.yaml: evaluate.policies names {policy!r}, which is neither c0 nor a declared cycle (allowed: c0, {', '.join(cycles) or 'no cycles declared'})")
    if len(set(policies)) != len(policies):
        raise CarealError(f"params.yaml: evaluate.policies lists a policy twice: {policies}")
    if params.bootstrap.hidden_size % params.bootstrap.num_heads:
        raise CarealError(f"params.yaml: bootstrap.hidden_size ({params.bootstrap.hidden_size}) must be a multiple of bootstrap.num_heads ({params.bootstrap.num_heads})")
    if params.train.method == "kto" and params.train.batch_size < 2:
        raise CarealError(f"params.yaml: train.batch_size is {params.train.batch_size}; allowed with train.method kto: >= 2 (trl's KTO needs a batch larger than 1)")
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
