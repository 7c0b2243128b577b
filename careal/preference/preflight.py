"""Pre-flight checks for train@cK: every mistake that would otherwise surface minutes into a
run (or never, as a silently useless adapter) stops the stage before the first step, with one
line that names the params key or the data file to fix.

``check_before_loading`` runs on params and preference rows alone (no model loaded yet);
``check_model`` runs on the loaded policy, before a trainer is built. The functions below them
are pure and tested one by one (tests/test_preflight.py).
"""

from __future__ import annotations

MIN_ROWS_DOC = "at least one full batch (train.batch_size rows)"
"""The documented minimum of preference data per cycle: fewer rows than one batch give a
single partial batch, too little to move an adapter (and KTO cannot train on one row)."""

# Module types peft can put a LoRA adapter on (by class name, so that this module needs no
# torch import): torch's Linear / Embedding / Conv layers and transformers' GPT-2 Conv1D.
LORA_LAYER_TYPES = ("Linear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "Conv1D")


def _error(message: str):
    from careal.errors import CarealError

    return CarealError(message)


def lora_target_modules(value) -> str | list[str]:
    """``train.lora_target_modules`` as peft's LoraConfig wants it: ``"all-linear"``, or a list
    of module names from a comma-separated string (``"q_proj, v_proj"``) or a YAML list.

    A plain string is never handed to peft as is: peft reads a string as a regular expression,
    so ``"q_proj,v_proj"`` would match no module at all.
    """
    if isinstance(value, str):
        if value.strip() == "all-linear":
            return "all-linear"
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, (list, tuple)):
        names = [str(part).strip() for part in value]
    else:
        raise _error(f"params.yaml: train.lora_target_modules must be all-linear, a comma-separated list of module names or a YAML list, got {value!r}")
    if not names or any(not name for name in names):
        raise _error(f"params.yaml: train.lora_target_modules has an empty module name in {value!r}")
    return names


def check_train_params(method: str, train) -> None:
    """Params alone: beta > 0, KTO's real batch size > 1."""
    if not train.beta > 0:
        raise _error(f"params.yaml: train.beta must be > 0 (it scales the implicit reward; 0 trains nothing), got {train.beta}")
    if method == "kto" and train.batch_size < 2:
        raise _error(
            f"params.yaml: train.batch_size must be at least 2 for train.method kto (KTO estimates its KL "
            f"reference point from the other rows of each batch), got {train.batch_size}"
        )
    if train.batch_size < 1:
        raise _error(f"params.yaml: train.batch_size must be at least 1, got {train.batch_size}")


def check_kto_classes(rows: list[dict], path) -> None:
    """KTO rows: both desirable and undesirable present (trl accepts one class silently)."""
    n_desirable = sum(bool(r.get("label")) for r in rows)
    n_undesirable = len(rows) - n_desirable
    if n_desirable == 0 or n_undesirable == 0:
        raise _error(
            f"{path}: KTO needs both desirable and undesirable rows, got {n_desirable} desirable and "
            f"{n_undesirable} undesirable (see pair_stats.json beside it). Sample more answers "
            "(generate.samples), raise generate.temperature, or use train.method: dpo."
        )


def check_rows(method: str, rows: list[dict], batch_size: int, path) -> None:
    """Preference data: both KTO classes present, and at least one full batch of rows."""
    if method == "kto":
        check_kto_classes(rows, path)
    what = "KTO rows" if method == "kto" else "DPO pairs"
    if len(rows) < batch_size:
        raise _error(
            f"{path}: {len(rows)} {what}, fewer than one batch (train.batch_size {batch_size}); careal needs "
            f"{MIN_ROWS_DOC}. Sample more answers (generate.samples, data.train_size) or lower train.batch_size."
        )


def check_precision(dtype: str, device: str, bf16_supported: bool) -> None:
    """``model.dtype`` against the resolved device: CPU cannot train in float16, and bfloat16 on
    CUDA needs a GPU that supports it (Ampere or later). bfloat16 on CPU is supported by torch."""
    if dtype == "float16" and device == "cpu":
        raise _error("params.yaml: model.dtype float16 cannot be trained on the CPU (model.device resolved to cpu); use float32 or auto")
    if dtype == "bfloat16" and device == "cuda" and not bf16_supported:
        raise _error("params.yaml: model.dtype bfloat16 needs a GPU that supports it (Ampere or later) and this one does not; use float16, float32 or auto")


def check_lora_targets(model, targets) -> None:
    """Every name in ``train.lora_target_modules`` must be a layer peft can adapt in ``model``
    (matched as the last part of a module's dotted name, as peft does)."""
    targets = lora_target_modules(targets)
    if targets == "all-linear":
        return
    found: dict[str, str] = {}
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        found.setdefault(leaf, type(module).__name__)
    missing = [t for t in targets if t not in found]
    wrong_type = [f"{t} ({found[t]})" for t in targets if t in found and found[t] not in LORA_LAYER_TYPES]
    adaptable = sorted(leaf for leaf, kind in found.items() if kind in LORA_LAYER_TYPES and not leaf.isdigit())
    if missing:
        raise _error(
            f"params.yaml: train.lora_target_modules names {', '.join(missing)}, not found in the model "
            f"(its adaptable layers: {', '.join(adaptable)}; or use all-linear)"
        )
    if wrong_type:
        raise _error(
            f"params.yaml: train.lora_target_modules names {', '.join(wrong_type)}, which LoRA cannot adapt "
            f"(its adaptable layers: {', '.join(adaptable)}; or use all-linear)"
        )


def check_before_loading(train, model_params, rows: list[dict], path) -> None:
    """Everything that needs no model: params, preference rows, precision for the device."""
    import torch

    from careal.policy.loading import resolve_device

    check_train_params(train.method, train)
    lora_target_modules(train.lora_target_modules)
    check_rows(train.method, rows, train.batch_size, path)
    device = resolve_device(model_params.device)
    check_precision(model_params.dtype, device, device == "cuda" and torch.cuda.is_bf16_supported())


def check_model(model, train) -> None:
    """The loaded policy: LoRA target modules that exist in it."""
    check_lora_targets(model, train.lora_target_modules)
