"""Seeds per answer: a sampled answer is a function of (seed, prompt id, sample) alone.

The seed rule (``SEED_RULE``, recorded in every sampled generation record's ``decoding``):
answer ``sample`` of the prompt with id ``id`` under params ``seed`` draws its randomness from
``answer_seed(seed, id, sample)``, the first 8 bytes of sha256 of the JSON text
``["careal-answer", seed, id, sample]`` (big-endian, top bit cleared). Not Python's ``hash()``,
which changes between processes.

- ``hf`` backend (``GumbelSampler``): each answer row gets its own ``torch.Generator`` seeded
  with ``answer_seed``; at every decoding step the row draws one vector of uniforms over the
  vocabulary from its own generator and the next token is
  ``argmax(warped logits + Gumbel noise)``, the Gumbel-max trick: exactly a draw from the
  temperature / top-p warped distribution. No row's randomness depends on which rows share its
  batch, so the answers are the same whatever ``batch_size``, the batch order or how the
  prompts are split between workers (up to floating-point differences in batched kernels,
  which on a CPU were none in careal's tests; see docs/gpu.md for GPUs).
- server backends (``openai``, ``vllm``): each (prompt, sample) is its own request whose
  ``seed`` is ``request_seed(seed, id, sample)`` (the same hash, 31 bits, which every server
  accepts). vLLM seeds each request's sampler from it, so its answers do not depend on
  batching or concurrency either; what other servers do with it is in docs/gpu.md.
"""

from __future__ import annotations

import hashlib
import json

SEED_RULE = "answer_seed = sha256(json [careal-answer, seed, id, sample])[:8]; hf: per-answer torch.Generator, Gumbel-max over temperature/top-p warped logits; servers: request seed = answer_seed mod 2**31"


def answer_seed(seed: int, prompt_id, sample: int) -> int:
    """The 63-bit seed of answer ``sample`` to prompt ``prompt_id`` (module doc)."""
    blob = json.dumps(["careal-answer", seed, prompt_id, sample], ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big") >> 1


def request_seed(seed: int, prompt_id, sample: int) -> int:
    """The seed sent with a server request: ``answer_seed`` in 31 bits (any server's int)."""
    return answer_seed(seed, prompt_id, sample) % (2**31)


class GumbelSampler:
    """A transformers LogitsProcessor that samples by the Gumbel-max trick with one generator
    per row: temperature, then top-p (transformers' own warpers), then Gumbel noise from the
    row's generator; ``generate(do_sample=False)`` then takes the argmax.

    ``seeds`` holds one seed per row of the batch, in the batch's row order (transformers keeps
    that order through greedy decoding). Each call draws exactly one vector per row, so step
    ``t`` of a row always uses the ``t``-th draw of its own generator.
    """

    def __init__(self, seeds: list[int], *, temperature: float, top_p: float, device):
        import torch
        from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.warpers = []
        if temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.device = device

    def __call__(self, input_ids, scores):
        import torch

        if scores.shape[0] != len(self.generators):
            raise ValueError(f"GumbelSampler has {len(self.generators)} row seeds but the batch has {scores.shape[0]} rows")
        scores = scores.float()
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        vocab = scores.shape[-1]
        uniform = torch.stack([torch.rand(vocab, generator=g, device=scores.device, dtype=torch.float32) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float32).tiny)))
        return scores + gumbel
