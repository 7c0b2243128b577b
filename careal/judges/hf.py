"""The ``hf`` judge: any Hugging Face causal LM, classifying by label scoring
(``careal.judges.scoring``): one batched forward pass, the next-token probabilities of the
label words after the rubric prompt, Unparsed below ``min_margin``.

``model`` is a hub id or a local folder; ``revision`` pins a hub commit; weights are loaded
from safetensors only and ``trust_remote_code`` is off unless asked for. The template
(``rubric``) and the label words are options, so a yes/no refusal detector works through the
``refusal_yesno`` template with ``label_words: {yes: Refuse, no: Accept}``.

The model is loaded on the first batch that is not in the judge cache: a fully cached run
loads nothing.
"""

from __future__ import annotations

from pathlib import Path

from careal.errors import CarealError
from careal.judges.scoring import DEFAULT_LABEL_WORDS, LabelScorer, check_label_words
from careal.judges.templates import load_template

DEFAULT_RUBRIC = "cares"
DEFAULT_MIN_MARGIN = 0.1
DEFAULT_BATCH_SIZE = 16
SCORING = "whole-word probabilities, margin on renormalised shares"
"""In every verdict's identity, so the judge cache never mixes verdicts of the earlier rule
(first tokens only, margin on raw probabilities) with this one."""


def load_causal_lm(source: str, *, revision=None, dtype="auto", device="auto", trust_remote_code=False):
    """(model in eval mode on its device, tokenizer padding on the left, device)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from careal.policy.loading import resolve_device, resolve_dtype

    device = resolve_device(device or "auto")
    kwargs = {"trust_remote_code": bool(trust_remote_code)}
    if revision:
        kwargs["revision"] = revision
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=resolve_dtype(dtype or "auto", device), use_safetensors=True, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise CarealError(f"judge model {source!r}: cannot load it ({exc})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer, device


class ScoringJudge:
    """What the hf and self judges share: a template, label words, a margin, lazy loading."""

    kind = "scoring"
    cacheable = True
    reports_progress = True

    def __init__(self, spec, default_rubric: str):
        self.spec = spec
        self.template = load_template(spec.rubric or default_rubric)
        self.label_words = check_label_words(spec.label_words or dict(DEFAULT_LABEL_WORDS))
        self.min_margin = DEFAULT_MIN_MARGIN if spec.min_margin is None else float(spec.min_margin)
        self.batch_size = spec.batch_size or DEFAULT_BATCH_SIZE
        self._scorer = None

    def _scoring_identity(self) -> dict:
        return {
            "rubric": self.template.name,
            "rubric_sha256": self.template.sha256,
            "label_words": self.label_words,
            "min_margin": self.min_margin,
            "scoring": SCORING,
            "dtype": self.spec.dtype or "auto",
        }

    def _load(self):  # (model, tokenizer, device)
        raise NotImplementedError

    @property
    def scorer(self) -> LabelScorer:
        if self._scorer is None:
            model, tokenizer, device = self._load()
            self._scorer = LabelScorer(model, tokenizer, device, self.template, self.label_words, self.min_margin, self.batch_size)
        return self._scorer

    def label_batch(self, pairs: list[tuple[str, str]], progress=None) -> list[tuple[str, dict]]:
        """One (label, evidence) per pair: label probabilities and margin as evidence."""
        if not pairs:
            return []
        return self.scorer.score(pairs, progress=progress)


class HFJudge(ScoringJudge):
    kind = "hf"

    def __init__(self, spec):
        super().__init__(spec, DEFAULT_RUBRIC)
        self._identity = None

    @property
    def identity(self) -> dict:
        if self._identity is None:
            from careal.policy.loading import dir_sha256

            source = self.spec.model
            local = Path(source).is_dir()
            self._identity = {
                "kind": self.kind,
                "model": source,
                "revision": self.spec.revision,
                "model_sha256": dir_sha256(source) if local else None,
                **self._scoring_identity(),
            }
        return self._identity

    def _load(self):
        s = self.spec
        return load_causal_lm(s.model, revision=s.revision, dtype=s.dtype, device=s.device, trust_remote_code=bool(s.trust_remote_code))
