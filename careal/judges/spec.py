"""One judge as params.yaml (``judge.train``, ``judge.eval``) and ``careal label`` describe it:
its kind and the options of that kind, checked before any judge is built."""

from __future__ import annotations

from dataclasses import dataclass

from careal.errors import CarealError


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
    else the answer is Unparsed (default 0.1). hf and self: on the label words' renormalised
    shares (each label's part of the probability on all label words, whole words scored)."""
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
