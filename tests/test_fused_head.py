"""careal/policy/fused_head.py: trl's fused LM head projects only the labelled positions on the CPU,
and gives the same loss, log-probabilities and gradients as trl's default path."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _model_and_batch():
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, pad_token_id=0)
    model = LlamaForCausalLM(config)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    input_ids = torch.randint(1, 97, (3, 14))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :5] = 0  # left padding, as careal's tokenizers pad
    input_ids[0, :5] = 0
    labels = torch.full_like(input_ids, -100)
    labels[:, 10:] = input_ids[:, 10:]  # only the completion carries labels
    return model, {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _loss_logprobs_grads(model, batch):
    model.zero_grad()
    out = model(**batch, fused_lm_head=True)
    (out.loss + out.entropy.sum() * 0.01).backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    return out.loss.detach(), out.log_probs.detach(), out.entropy.detach(), grads


def test_labelled_positions_only_gives_trls_numbers_and_projects_only_labelled_rows(monkeypatch):
    from trl.kernels import chunked_logprob
    from trl.trainer import utils as trl_utils

    from careal.policy.fused_head import score_labelled_positions_only

    projected_rows = []
    real_apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):
        projected_rows.append(hidden.shape[0])
        return real_apply(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting_apply)
    # trl's own switch, whatever an earlier test in this process did; restored after the test
    monkeypatch.setattr(trl_utils, "_use_triton", chunked_logprob._use_triton)

    model, batch = _model_and_batch()
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    default = _loss_logprobs_grads(model, batch)
    assert projected_rows == [3 * 13], "trl's default on a CPU projects every position"

    assert score_labelled_positions_only() is True
    assert score_labelled_positions_only() is True  # idempotent
    compact = _loss_logprobs_grads(model, batch)
    assert projected_rows[1:] == [labelled] and labelled == 3 * 4

    torch.testing.assert_close(compact[0], default[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(compact[1], default[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(compact[2], default[2], rtol=1e-5, atol=1e-6)
    assert default[0] > 0 and (compact[1] == 0).sum() == 3 * 13 - labelled
    for name, grad in default[3].items():
        torch.testing.assert_close(compact[3][name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_no_switch_in_trl_means_nothing_changed(monkeypatch):
    from trl.trainer import utils as trl_utils

    from careal.policy.fused_head import score_labelled_positions_only

    monkeypatch.delattr(trl_utils, "_use_triton")
    assert score_labelled_positions_only() is False
    assert not hasattr(trl_utils, "_use_triton")
