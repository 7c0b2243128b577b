"""Batched answers from a policy: K sampled answers per prompt (generate@cK) or one greedy
answer (evaluate@cK).

Prompts are rendered with the tokenizer's chat template, sorted by length so that batches
carry little padding, padded on the left, and generated under ``torch.inference_mode``. The
torch generator is seeded once per batch from (seed, batch index), so the same params give the
same answers whatever else ran before.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Decoding:
    """Decoding settings; recorded in every generation record."""

    do_sample: bool
    samples: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    batch_size: int = 64
    seed: int = 0

    def record(self) -> dict:
        settings = {"do_sample": self.do_sample, "samples": self.samples, "max_new_tokens": self.max_new_tokens, "seed": self.seed}
        if self.do_sample:
            settings.update(temperature=self.temperature, top_p=self.top_p)
        return settings


def render_prompt(tokenizer, prompt: str) -> str:
    """The text the model sees: the chat template with a generation prompt, or the raw prompt
    for a base model without a template."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    return prompt


def generate_answers(policy, prompts: list[str], decoding: Decoding, progress_desc: str = "generating", sort_by_length: bool = True) -> list[list[str]]:
    """``decoding.samples`` answers for each prompt, in the prompts' order.

    ``sort_by_length`` batches prompts of similar length together (less padding; see
    benchmarks/generation.py for the measured gain); answers come back in input order either way.
    """
    import torch
    from tqdm.auto import tqdm

    if decoding.samples < 1:
        raise ValueError("samples must be at least 1")
    if not decoding.do_sample and decoding.samples != 1:
        raise ValueError("greedy decoding gives one answer per prompt")
    tokenizer, model = policy.tokenizer, policy.model
    rendered = [render_prompt(tokenizer, p) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(prompts)), key=lambda i: (lengths[i], i)) if sort_by_length else list(range(len(prompts)))
    answers: list[list[str] | None] = [None] * len(prompts)
    kwargs = {
        "max_new_tokens": decoding.max_new_tokens,
        "do_sample": decoding.do_sample,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if decoding.do_sample:
        kwargs.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=0, num_return_sequences=decoding.samples)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    batches = [order[i : i + decoding.batch_size] for i in range(0, len(order), decoding.batch_size)]
    with torch.inference_mode(), tqdm(total=len(prompts), desc=progress_desc, unit="prompt") as bar:
        for number, batch in enumerate(batches):
            torch.manual_seed(decoding.seed * 1_000_003 + number)
            enc = tokenizer([rendered[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False).to(policy.device)
            out = model.generate(**enc, **kwargs)
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for j, index in enumerate(batch):
                answers[index] = [t.strip() for t in texts[j * decoding.samples : (j + 1) * decoding.samples]]
            bar.update(len(batch))
    return answers
