"""The ``vllm`` generation backend: in-process vLLM (an optional extra: ``pip install -e
'.[vllm]'``, a CUDA machine), the policy's LoRA adapter applied through vLLM's LoRA support
(``LoRARequest``; no merge), ``tensor_parallel_size`` GPUs per engine.

Requests are built here without vLLM (``build_requests``, ``sampling_kwargs``,
``engine_kwargs``, ``lora_request_args``) and the results mapped back to (prompt, sample)
(``map_results``), so both are unit-tested on machines without vLLM or a GPU; only
``VLLMBackend.generate`` imports vllm.

- Prompts are rendered with the tokenizer's chat template and tokenized exactly as the ``hf``
  backend does (``add_special_tokens=False``) and handed to vLLM as token ids, so both
  backends feed the model the same tokens.
- Each (prompt, sample) is one request (``n=1``) with ``seed = request_seed(seed, id,
  sample)``: vLLM seeds a per-request sampler from it, so a sampled answer does not depend on
  vLLM's scheduling or batch (docs/gpu.md says what still can differ on a GPU). Greedy is
  ``temperature=0``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from careal.errors import CarealError

INSTALL_HINT = "pip install -e '.[vllm]' (needs a CUDA machine)"
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's allowed max_lora_rank values


@dataclass(frozen=True)
class VLLMOptions:
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 0
    """0: the model's own context length."""
    enforce_eager: bool = False


def import_vllm(where: str = "generate"):
    """The vllm module, or a CarealError naming the extra to install."""
    try:
        import vllm
    except ImportError as exc:
        raise CarealError(f"{where}.backend vllm needs the vllm package, which is not installed ({exc.msg}): {INSTALL_HINT}; or use backend hf or openai") from None
    return vllm


def sampling_kwargs(decoding, seed: int) -> dict:
    """vLLM ``SamplingParams`` keyword arguments of one answer."""
    kwargs = {"n": 1, "max_tokens": decoding.max_new_tokens, "seed": seed, "skip_special_tokens": True}
    if decoding.do_sample:
        kwargs.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=-1)
    else:
        kwargs.update(temperature=0.0)
    return kwargs


def build_requests(tokenizer, ids: list, prompts: list[str], decoding) -> tuple[list[dict], list[dict], list[tuple[int, int]]]:
    """``(prompts, sampling kwargs, slots)``: one vLLM prompt (``{"prompt_token_ids": ...}``)
    and its sampling arguments per answer, and the (prompt index, sample) each one is."""
    from careal.policy.generation import render_prompt
    from careal.policy.sampling import request_seed

    rendered = [render_prompt(tokenizer, p) for p in prompts]
    token_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    slots = [(i, s) for i in range(len(prompts)) for s in range(decoding.samples)]
    inputs = [{"prompt_token_ids": list(token_ids[i])} for i, _ in slots]
    sampling = [sampling_kwargs(decoding, request_seed(decoding.seed, ids[i], s)) for i, s in slots]
    return inputs, sampling, slots


def map_results(outputs: list, slots: list[tuple[int, int]], n_prompts: int, samples: int) -> list[list[str]]:
    """vLLM's ``RequestOutput`` list (one per request, in request order) back to
    ``samples`` answers per prompt; a missing or malformed output is an error, never an empty answer."""
    if len(outputs) != len(slots):
        raise CarealError(f"vllm returned {len(outputs)} outputs for {len(slots)} requests")
    answers: list[list[str | None]] = [[None] * samples for _ in range(n_prompts)]
    for (i, s), output in zip(slots, outputs):
        completions = getattr(output, "outputs", None)
        if not completions or not isinstance(getattr(completions[0], "text", None), str):
            raise CarealError(f"vllm returned no text for prompt {i} sample {s}")
        answers[i][s] = completions[0].text.strip()
    return answers


def lora_rank(adapter_dir) -> int:
    """The smallest max_lora_rank vLLM accepts that holds the adapter's rank."""
    r = int(json.loads((Path(adapter_dir) / "adapter_config.json").read_text()).get("r", 16))
    for rank in LORA_RANKS:
        if rank >= r:
            return rank
    raise CarealError(f"{adapter_dir}: LoRA rank {r} is above vLLM's largest max_lora_rank ({LORA_RANKS[-1]})")


def lora_request_args(policy: str, adapter_dir) -> dict | None:
    """``LoRARequest`` arguments of the policy's adapter, or None for c0 (the base alone)."""
    from careal.policy.loading import has_adapter

    if adapter_dir is None or not has_adapter(adapter_dir):
        return None
    return {"lora_name": policy, "lora_int_id": 1, "lora_path": str(Path(adapter_dir).resolve())}


def engine_kwargs(model: str, options: VLLMOptions, *, dtype: str, seed: int, revision: str | None, trust_remote_code: bool, max_lora_rank: int | None) -> dict:
    """``vllm.LLM`` keyword arguments."""
    kwargs = {
        "model": model,
        "tokenizer": model,
        "dtype": dtype,
        "seed": seed,
        "tensor_parallel_size": options.tensor_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "trust_remote_code": trust_remote_code,
        "enforce_eager": options.enforce_eager,
    }
    if revision:
        kwargs["revision"] = revision
    if options.max_model_len:
        kwargs["max_model_len"] = options.max_model_len
    if max_lora_rank is not None:
        kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=1)
    return kwargs


class VLLMBackend:
    kind = "vllm"

    def __init__(self, options: VLLMOptions, *, base_dir, policy: str, policy_dir, model_params, seed: int, stage: str = "generate"):
        self.options, self.base_dir, self.policy, self.policy_dir = options, Path(base_dir), policy, policy_dir
        self.model_params, self.seed, self.stage = model_params, seed, stage
        self.stats: dict = {}

    @property
    def identity(self) -> dict:
        return {"kind": self.kind, "tensor_parallel_size": self.options.tensor_parallel_size}

    def generate(self, ids: list, prompts: list[str], decoding, desc: str) -> list[list[str]]:
        from careal.policy.loading import _source, load_tokenizer, read_base

        vllm = import_vllm(self.stage)
        from vllm.lora.request import LoRARequest

        spec = read_base(self.base_dir)
        source, kwargs = _source(self.base_dir, spec)
        tokenizer = load_tokenizer(self.base_dir)
        inputs, sampling, slots = build_requests(tokenizer, ids, prompts, decoding)
        lora = lora_request_args(self.policy, self.policy_dir)
        dtype = "auto" if self.model_params.dtype == "auto" else self.model_params.dtype
        llm = vllm.LLM(**engine_kwargs(source, self.options, dtype=dtype, seed=self.seed, revision=kwargs.get("revision"), trust_remote_code=kwargs["trust_remote_code"], max_lora_rank=lora_rank(self.policy_dir) if lora else None))
        outputs = llm.generate(inputs, [vllm.SamplingParams(**s) for s in sampling], use_tqdm=True, lora_request=LoRARequest(**lora) if lora else None)
        self.stats = {"requests": len(inputs)}
        return map_results(outputs, slots, len(prompts), decoding.samples)
