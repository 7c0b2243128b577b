"""Where a training process stands when ``accelerate launch`` started several
(careal/launcher.py): its rank, and the adapter saved once, by rank 0, after gathering it.

Without a launcher every function answers as for a single process, and saving is exactly
``model.save_pretrained`` as before.
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's global rank (0 without a distributed launcher)."""
    return int(os.environ.get("RANK", "0") or 0)


def local_rank() -> int | None:
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value not in (None, "") else None


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    return rank() == 0


def per_process_batch(global_batch: int) -> int:
    """Rows each process takes of one optimiser step's batch (the params keep the global one)."""
    return max(1, global_batch // world_size())


def save_trained_adapter(trainer, out_dir, **save_kwargs) -> bool:
    """Save the trained PEFT model into ``out_dir`` on rank 0; True there, False elsewhere.

    With several processes the state is first gathered from every rank (FSDP: full state
    dict; DeepSpeed ZeRO-3: the 16-bit weights), a collective call every rank makes."""
    if world_size() == 1:
        trainer.model.save_pretrained(str(out_dir), **save_kwargs)
        return True
    accelerator = trainer.accelerator
    if getattr(trainer, "is_fsdp_enabled", False):
        accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    state = accelerator.get_state_dict(trainer.model_wrapped if getattr(trainer, "is_deepspeed_enabled", False) else trainer.model)
    if not is_main_process():
        return False
    accelerator.unwrap_model(trainer.model).save_pretrained(str(out_dir), state_dict=state, **save_kwargs)
    return True
