"""Memory guards: before a stage loads a model, estimate what it will need and stop with a
clear error naming the params keys to lower, instead of crashing (or swapping) mid-stage.

The estimate comes from the model's config (no weights are read), the dtype and the stage's
params. It is deliberately rough and on the generous side:

- weights: parameters (from the config: embeddings, attention with its key/value heads, MLP)
  x bytes per parameter of the dtype;
- generate / evaluate: the key/value cache, 2 x layers x kv_heads x head_dim x tokens x rows x
  dtype bytes, where rows = batch_size x samples and tokens = the longest prompt (about one
  token per 3 characters, plus the chat template) + max_new_tokens; the prefill attention
  scores (rows x heads x prompt_tokens^2 x 4 bytes) and two float32 logit rows per sequence;
- train: the weights, activations (rows x max_length x hidden x layers x 16 bytes) and logits
  with their log-softmax (rows x max_length x vocab x 12 bytes), where rows = batch_size
  (x2 for DPO's chosen and rejected answers, x2 for KTO's KL batch).

Available memory: ``torch.cuda.mem_get_info`` on a GPU, ``psutil.virtual_memory().available``
on the CPU; ``CAREAL_AVAILABLE_MEMORY`` (bytes, or with a K/M/G/T suffix) overrides both, for
tests and for sharing a machine. A stage needs the estimate to fit in 90 % of what is available.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from careal.errors import CarealError

AVAILABLE_ENV = "CAREAL_AVAILABLE_MEMORY"
HEADROOM = 0.9
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
GiB = 1024**3


@dataclass
class ModelShape:
    """What the estimate needs from a causal LM's config."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    tie_word_embeddings: bool = True

    @classmethod
    def from_config(cls, config) -> "ModelShape":
        if hasattr(config, "get_text_config"):
            config = config.get_text_config()
        hidden = int(config.hidden_size)
        heads = int(getattr(config, "num_attention_heads", 1) or 1)
        return cls(
            vocab_size=int(config.vocab_size),
            hidden_size=hidden,
            num_layers=int(config.num_hidden_layers),
            num_heads=heads,
            num_kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
            intermediate_size=int(getattr(config, "intermediate_size", None) or 4 * hidden),
            tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", True)),
        )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def parameters(self) -> int:
        h, kv = self.hidden_size, self.num_kv_heads * self.head_dim
        attention = 2 * h * h + 2 * h * kv
        mlp = 3 * h * self.intermediate_size
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return embeddings + self.num_layers * (attention + mlp + 2 * h)


@dataclass
class Estimate:
    """Bytes needed, by part, and the params keys that drive the non-weight parts."""

    parts: dict[str, int] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 2 else f"{n / 1024**2:.1f} MiB"


def parse_bytes(text: str) -> int:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not match:
        raise CarealError(f"{AVAILABLE_ENV}={text!r}: expected a number of bytes, e.g. 8000000000 or 8G")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** " KMGT".index(unit or " "))


def available_memory(device: str) -> tuple[int, str]:
    """(bytes available, where the figure comes from)."""
    override = os.environ.get(AVAILABLE_ENV)
    if override:
        return parse_bytes(override), AVAILABLE_ENV
    if device == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info()
        return int(free), "free GPU memory"
    import psutil

    return int(psutil.virtual_memory().available), "available RAM"


def prompt_tokens(prompts: list[str]) -> int:
    """A generous token count for the longest prompt with its chat template."""
    longest = max((len(p) for p in prompts), default=0)
    return math.ceil(longest / 3) + 64


def generation_estimate(shape: ModelShape, dtype_bytes: int, *, prompts: list[str], batch_size: int, samples: int, max_new_tokens: int, section: str) -> Estimate:
    rows = min(batch_size, max(len(prompts), 1)) * samples
    prompt = prompt_tokens(prompts)
    tokens = prompt + max_new_tokens
    kv = 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * tokens * rows * dtype_bytes
    prefill = rows * shape.num_heads * prompt * prompt * 4 + rows * prompt * shape.hidden_size * 4 * 4
    logits = rows * shape.vocab_size * 4 * 2
    keys = [f"{section}.batch_size", f"{section}.max_new_tokens"]
    if samples > 1:
        keys.insert(1, f"{section}.samples")
    return Estimate(
        parts={"weights": shape.parameters * dtype_bytes, f"KV cache ({rows} sequences x {tokens} tokens)": kv, "prefill activations": prefill, "logits": logits},
        keys=keys,
    )


def training_estimate(shape: ModelShape, dtype_bytes: int, *, method: str, batch_size: int, max_length: int) -> Estimate:
    rows = batch_size * 2  # DPO: chosen + rejected; KTO: the batch and its KL batch
    activations = rows * max_length * shape.hidden_size * shape.num_layers * 16
    logits = rows * max_length * shape.vocab_size * 12
    return Estimate(
        parts={"weights": shape.parameters * dtype_bytes, f"activations ({rows} sequences x {max_length} tokens)": activations, "logits and log-probabilities": logits},
        keys=["train.batch_size", "train.max_length"],
    )


def check_fits(estimate: Estimate, stage: str, device: str) -> None:
    """A CarealError naming the keys to lower when the estimate does not fit."""
    available, source = available_memory(device)
    if estimate.total <= available * HEADROOM:
        return
    parts = ", ".join(f"{name} {gib(n)}" for name, n in estimate.parts.items())
    weights_alone = estimate.parts.get("weights", 0) > available * HEADROOM
    advice = "the model's weights alone do not fit: use a smaller model.base, model.dtype bfloat16/float16, or a machine with more memory" if weights_alone else f"lower {', '.join(estimate.keys)}"
    raise CarealError(
        f"{stage}: needs about {gib(estimate.total)} ({parts}) but {gib(available)} is available ({source} on {device}); {advice}"
    )


def model_shape(base_dir) -> ModelShape | None:
    """The base model's shape from its config (models/base/base.json says where it is), or
    None when the config cannot be read here (the loader then reports its own error)."""
    from pathlib import Path

    from careal.policy.loading import _source, read_base

    base_dir = Path(base_dir)
    try:
        from transformers import AutoConfig

        source, kwargs = _source(base_dir, read_base(base_dir))
        return ModelShape.from_config(AutoConfig.from_pretrained(source, **kwargs))
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def dtype_bytes(dtype: str, device: str) -> int:
    if dtype == "auto":
        return 2 if device == "cuda" else 4
    return DTYPE_BYTES.get(dtype, 4)


def guard_generation(params, base_dir, stage: str, prompts: list[str], decoding, section: str) -> None:
    """Before generate@cK / evaluate@cK load a model."""
    from careal.policy.loading import resolve_device

    device = resolve_device(params.model.device)
    shape = model_shape(base_dir)
    if shape is None:
        return
    estimate = generation_estimate(shape, dtype_bytes(params.model.dtype, device), prompts=prompts, batch_size=decoding.batch_size, samples=decoding.samples, max_new_tokens=decoding.max_new_tokens, section=section)
    check_fits(estimate, stage, device)


def guard_training(params, base_dir, stage: str) -> None:
    """Before train@cK loads a model."""
    from careal.policy.loading import resolve_device

    device = resolve_device(params.model.device)
    shape = model_shape(base_dir)
    if shape is None:
        return
    estimate = training_estimate(shape, dtype_bytes(params.model.dtype, device), method=params.train.method, batch_size=params.train.batch_size, max_length=params.train.max_length)
    check_fits(estimate, stage, device)
