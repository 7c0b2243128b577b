"""Hidden-state features for the knowledge probe (careal/metrics/probe.py).

For each prompt: the hidden state at the last prompt token, after the chat template and its
generation prompt (the position whose output is the answer's first token), at every layer
(index 0 = the embeddings, L = the last layer's output, as transformers' ``hidden_states``).
One forward pass per batch of prompts, no generation. Batches are length-sorted (left
padding, position ids from the mask, as careal's generation), so the cost is about one
prefill of the prompts.
"""

from __future__ import annotations

from careal.policy.generation import render_prompt


def last_prompt_token_states(policy, prompts: list[str], batch_size: int = 16):
    """A float32 numpy array (prompts, layers + 1, hidden size), rows in ``prompts`` order."""
    import numpy as np
    import torch

    tokenizer, model = policy.tokenizer, policy.model
    texts = [render_prompt(tokenizer, p) for p in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]  # as generation
    order = sorted(range(len(texts)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out = None
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # left padding: the last prompt token is at -1
                ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            result = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device), output_hidden_states=True, use_cache=False)
            states = torch.stack([h[:, -1, :] for h in result.hidden_states], dim=1).float().cpu().numpy()
            if out is None:
                out = np.zeros((len(texts), states.shape[1], states.shape[2]), dtype=np.float32)
            out[batch] = states
    return out
