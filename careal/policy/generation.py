"""Batched answers from a policy with the ``hf`` backend (transformers' ``generate``): K sampled
answers per prompt (generate@cK) or one greedy answer (evaluate@cK).

Prompts are rendered with the tokenizer's chat template, sorted by length so that batches
carry little padding, padded on the left, and generated under ``torch.inference_mode`` until
every row has reached EOS or ``max_new_tokens``.

- **Greedy** (``do_sample: false``): transformers' greedy search, unchanged.
- **Sampled**: every answer is a function of (seed, prompt id, sample) alone
  (careal/policy/sampling.py): each of a prompt's ``samples`` answers is its own row with its
  own seeded generator, and the token is drawn by the Gumbel-max trick over the temperature /
  top-p warped distribution. The batch size, the batch order and the number of workers do not
  change the answers.
- **Out of memory**: a batch that runs out of memory is retried with half as many prompts, and
  the smaller size is kept for the rest; the answers do not change (per-answer seeds), and the
  back-offs are reported in ``stats``.
- **torch.compile** (``compile: true``): a static KV cache and transformers' compiled forward
  (benchmarks/generation_backends.py measures it; on a CPU it did not pay, see README).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Decoding:
    """Decoding settings; ``record()`` is written into every generation record."""

    do_sample: bool
    samples: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    batch_size: int = 64
    seed: int = 0
    compile: bool = False
    backend: dict | None = field(default=None)
    """Set for the server backends (``{"kind": "openai", "base_url": ..., "model": ...}``);
    None is the ``hf`` backend (then absent from the record, as before there were backends)."""

    def record(self) -> dict:
        from careal.policy.sampling import SEED_RULE

        settings = {"do_sample": self.do_sample, "samples": self.samples, "max_new_tokens": self.max_new_tokens, "seed": self.seed}
        if self.do_sample:
            settings.update(temperature=self.temperature, top_p=self.top_p, seed_rule=SEED_RULE)
        if self.backend is not None:
            settings["backend"] = self.backend
        return settings


def render_prompt(tokenizer, prompt: str) -> str:
    """The text the model sees: the chat template with a generation prompt, or the raw prompt
    for a base model without a template."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    return prompt


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # CPU allocators say so in a RuntimeError
    return isinstance(exc, RuntimeError) and ("out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower())


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def generate_kwargs(tokenizer, decoding: Decoding, device) -> dict:
    """The ``generate`` keyword arguments every batch shares."""
    kwargs = {
        "max_new_tokens": decoding.max_new_tokens,
        "do_sample": False,  # sampling is greedy search over Gumbel-perturbed logits (GumbelSampler)
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "temperature": None,
        "top_p": None,
        "top_k": None,
    }
    if decoding.compile:
        from transformers import CompileConfig

        config = CompileConfig(mode="reduce-overhead" if str(device).startswith("cuda") else "default")
        config._compile_all_devices = True  # transformers compiles on accelerators only unless told
        kwargs.update(cache_implementation="static", compile_config=config)
    return kwargs


def generate_answers(policy, prompts: list[str], decoding: Decoding, progress_desc: str = "generating", sort_by_length: bool = True, ids: list | None = None, stats: dict | None = None) -> list[list[str]]:
    """``decoding.samples`` answers for each prompt, in the prompts' order.

    ``ids`` are the prompts' ids (the sampled answers' seed key; default their positions).
    ``sort_by_length`` batches prompts of similar length together (less padding; see
    benchmarks/generation.py for the measured gain); answers come back in input order either
    way. ``stats`` (when given) receives ``batches``, ``oom_backoffs`` and ``final_batch_size``.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import LogitsProcessorList

    from careal.errors import CarealError
    from careal.policy.sampling import GumbelSampler, answer_seed

    if decoding.samples < 1:
        raise ValueError("samples must be at least 1")
    if not decoding.do_sample and decoding.samples != 1:
        raise ValueError("greedy decoding gives one answer per prompt")
    ids = list(range(len(prompts))) if ids is None else list(ids)
    if len(ids) != len(prompts):
        raise ValueError("one id per prompt")
    tokenizer, model = policy.tokenizer, policy.model
    rendered = [render_prompt(tokenizer, p) for p in prompts]
    lengths = [len(t) for t in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: (lengths[i], i)) if sort_by_length else list(range(len(prompts)))
    answers: list[list[str] | None] = [None] * len(prompts)
    kwargs = generate_kwargs(tokenizer, decoding, policy.device)
    k = decoding.samples
    size, position, batches, backoffs = decoding.batch_size, 0, 0, []
    with torch.inference_mode(), tqdm(total=len(prompts), desc=progress_desc, unit="prompt") as bar:
        while position < len(order):
            batch = order[position : position + size]
            rows = [i for i in batch for _ in range(k)]  # each answer is a row
            enc = tokenizer([rendered[i] for i in rows], return_tensors="pt", padding=True, add_special_tokens=False).to(policy.device)
            extra = {}
            if decoding.do_sample:
                seeds = [answer_seed(decoding.seed, ids[i], s) for i in batch for s in range(k)]
                extra["logits_processor"] = LogitsProcessorList([GumbelSampler(seeds, temperature=decoding.temperature, top_p=decoding.top_p, device=policy.device)])
            try:
                out = model.generate(**enc, **kwargs, **extra)
            except (RuntimeError, torch.OutOfMemoryError) as exc:
                if not _is_out_of_memory(exc):
                    raise
                del enc, extra
                _free_memory()
                if size == 1:
                    raise CarealError(f"{progress_desc}: out of memory with one prompt per batch ({k} answers); lower max_new_tokens or samples, or use a larger device") from None
                size = max(1, size // 2)
                backoffs.append(size)
                bar.write(f"{progress_desc}: out of memory; batch size lowered to {size} prompts (the answers do not depend on it)")
                continue
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for j, index in enumerate(batch):
                answers[index] = [t.strip() for t in texts[j * k : (j + 1) * k]]
            position += len(batch)
            batches += 1
            bar.update(len(batch))
    if stats is not None:
        stats.update(batches=batches, oom_backoffs=backoffs, final_batch_size=size)
    return answers
