"""trl's fused LM head, scoring only the labelled positions on every device.

trl 1.16's SFTTrainer, DPOTrainer and KTOTrainer compute the per-token log-probabilities with a
fused LM head (``trl.trainer.utils.add_fused_lm_head``): the hidden states are projected onto
the vocabulary in tiles, and the backward pass projects them again. On a device with Triton
(CUDA, XPU) it projects only the positions that carry a label; everywhere else it projects
*every* position, prompt and padding included, then zeroes the ones without a label. trl
does that to keep tile shapes fixed on compiled back-ends (XLA), where a new shape means a
recompile; eager PyTorch on a CPU has no such cost.

careal's losses read only the completion: on the embedded default about one position in
eight carries a label. ``score_labelled_positions_only`` makes trl take its compact path
(the one it takes on CUDA) on every device. The log-probabilities and their gradients are
the same numbers, summed in a different order; a warm-start SFT step takes about half the
time and a DPO step about two thirds (``benchmarks/fused_head.py``).

It changes one private name of trl, so it is checked, not assumed: if trl no longer has the
switch it reads, nothing is changed and ``score_labelled_positions_only`` returns False
(tests/test_fused_head.py fails then, so an upgrade does not lose the speed in silence).
"""

from __future__ import annotations


def score_labelled_positions_only() -> bool:
    """Make trl's fused LM head project only the positions with a label, on every device.
    Idempotent; returns whether trl's switch was found (and is now set)."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:  # pragma: no cover - trl is a dependency
        return False
    switch = getattr(trl_utils, "_use_triton", None)
    if switch is None or not callable(switch):
        return False
    if getattr(switch, "careal_compact", False):
        return True

    def compact_on_every_device(device) -> bool:
        return True

    compact_on_every_device.careal_compact = True
    trl_utils._use_triton = compact_on_every_device
    return True
