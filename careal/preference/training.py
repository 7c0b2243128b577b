"""train@cK: trl's KTOTrainer or DPOTrainer on a LoRA adapter.

Two controls (``train.init`` and ``train.ref_policy``, recorded in lineage.json) say where a
cycle starts and what it is anchored to:

- ``init: continue`` trains the parent's adapter further; ``init: fresh`` trains a new LoRA
  adapter on the base model. c1's parent is c0, the base without adapter, so c1 is always fresh.
- ``ref_policy: previous`` anchors the DPO/KTO log-ratios to the parent policy; ``base`` to the
  base model. How trl gets each: a fresh adapter with ``peft_config`` has the base (adapter
  disabled) as reference; a continued adapter (a ``PeftModel`` without ``peft_config``) gets a
  frozen copy of itself, the parent, as reference; the other two combinations pass an explicit
  frozen ``ref_model`` (the base model, or the parent's adapter merged into a copy of the base),
  which holds a second copy of the base weights in memory.

Every ``models/cK`` is a complete adapter on the base model, loadable with
``PeftModel.from_pretrained(base, "models/cK")`` alone. Beside it, ``preference_data.jsonl``
holds the rows it was trained on, each tagged with the cycle that made it, so that
``train.accumulate`` can add the previous cycles' rows to the next cycle's training set
(train@cK already depends on ``models/cP``).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from careal import quiet
from careal.errors import CarealError
from careal.policy.fused_head import score_labelled_positions_only
from careal.jsonio import read_jsonl, write_json, write_jsonl
from careal.policy.distributed import is_main_process, per_process_batch, save_trained_adapter, world_size
from careal.policy.trainer_args import common_trainer_args
from careal.policy.loading import LINEAGE_FILE, dir_sha256, file_sha256, has_adapter, load_policy, read_base
from careal.preference.preflight import check_kto_classes

KTO_FIELDS = ("prompt", "completion", "label")
DPO_FIELDS = ("prompt", "chosen", "rejected")
PREFERENCE_DATA = "preference_data.jsonl"
INITS = ("fresh", "continue")
REF_POLICIES = ("base", "previous")


def accumulate_rows(own_rows: list[dict], cycle: str, parent_dir, accumulate: int) -> tuple[list[dict], dict]:
    """This cycle's rows (tagged ``cycle``) plus, when ``accumulate`` > 0, the rows of up to
    that many earlier cycles, taken from the parent's ``preference_data.jsonl`` (which holds
    the parent's own rows and what it accumulated). Returns the rows and the count per cycle."""
    rows = [{**r, "cycle": cycle} for r in own_rows]
    earlier_path = Path(parent_dir) / PREFERENCE_DATA
    if accumulate > 0 and earlier_path.exists():
        earlier = read_jsonl(earlier_path)
        order = []
        for r in earlier:
            if r.get("cycle") not in order:
                order.append(r.get("cycle"))
        keep = set(order[-accumulate:])
        rows += [r for r in earlier if r.get("cycle") in keep]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["cycle"]] = counts.get(r["cycle"], 0) + 1
    return rows, counts


def dpo_loss_args(sft_weight: float) -> dict:
    """DPOConfig loss settings: the sigmoid DPO loss, plus trl's ``sft`` loss (negative
    log-likelihood of the chosen answers) weighted ``sft_weight`` when it is above 0."""
    if sft_weight > 0:
        return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, float(sft_weight)]}
    return {"loss_type": ["sigmoid"]}


def _check_fields(rows: list[dict], fields: tuple, path) -> None:
    from careal.errors import DataError

    for number, row in enumerate(rows, start=1):
        for field in fields:
            if field not in row:
                raise DataError(path, number, field, "missing")


def _conversation(tokenizer, prompt: str, completion_key: str, row: dict) -> dict:
    if tokenizer.chat_template:
        return {"prompt": [{"role": "user", "content": prompt}], completion_key: [{"role": "assistant", "content": row[completion_key]}]}
    return {"prompt": prompt, completion_key: row[completion_key]}


def _canonicalise_adapter_config(adapter_dir: Path) -> None:
    """peft writes ``target_modules`` from a set, whose order changes from run to run; sort it
    so that the same training gives the same bytes (and the same DVC hash)."""
    import json

    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True))


def kto_weights(n_desirable: int, n_undesirable: int, params) -> tuple[float, float]:
    """Class weights: explicit from params, or ``auto`` so that
    desirable_weight * n_desirable == undesirable_weight * n_undesirable."""
    dw, uw = params.kto_desirable_weight, params.kto_undesirable_weight
    if dw == "auto" and uw == "auto":
        if n_desirable < n_undesirable:
            return round(n_undesirable / n_desirable, 4), 1.0
        return 1.0, round(n_desirable / n_undesirable, 4)
    if dw == "auto" or uw == "auto":
        raise CarealError("params.yaml: set both train.kto_desirable_weight and train.kto_undesirable_weight, or both to auto")
    return float(dw), float(uw)


def build_dataset(method: str, rows: list[dict], tokenizer, path, seed: int, batch_size: int = 16):
    """The trl dataset for ``method`` from kto.jsonl / dpo.jsonl rows, in a seeded,
    length-grouped order (see ``length_grouped_order``)."""
    from datasets import Dataset

    if method == "kto":
        _check_fields(rows, KTO_FIELDS, path)
        check_kto_classes(rows, path)
        records = [{**_conversation(tokenizer, r["prompt"], "completion", r), "label": bool(r["label"])} for r in rows]
    else:
        _check_fields(rows, DPO_FIELDS, path)
        if not rows:
            raise CarealError(
                f"{path}: DPO needs at least one preference pair, got none: every prompt's samples scored the same "
                "(see pair_stats.json beside it). Sample more answers (generate.samples), raise "
                "generate.temperature, or use train.method: kto."
            )
        records = [
            {
                **_conversation(tokenizer, r["prompt"], "chosen", r),
                "rejected": _conversation(tokenizer, r["prompt"], "rejected", r)["rejected"],
            }
            for r in rows
        ]
    completion_key = "completion" if method == "kto" else "chosen"
    lengths = [len(r["prompt"]) + len(r[completion_key]) + len(r.get("rejected", "")) for r in rows]
    order = length_grouped_order(lengths, batch_size, seed)
    return Dataset.from_list([records[i] for i in order])


def length_grouped_order(lengths: list[int], batch_size: int, seed: int, batches_per_group: int = 8) -> list[int]:
    """A seeded training order whose batches hold rows of similar length (less padding).

    Rows are shuffled, cut into groups of ``batches_per_group`` batches, sorted by length
    inside each group, cut into batches, and the batches shuffled. The trainers then read the
    dataset in this order (``train_sampling_strategy="sequential"``).
    """
    import random

    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * batches_per_group
    batches = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return [i for batch in batches for i in batch]


def train_cycle(*, cycle: str, parent: str, data_dir, base_dir, parent_dir, out_dir, train_params, model_params, seed: int, launcher: dict | None = None) -> dict | None:
    """Train cycle ``cycle``'s adapter from its parent policy; write it and its lineage to ``out_dir``.

    ``out_dir`` is written completely or not at all (the caller passes a temporary folder that
    replaces the real one on success). Returns the lineage record; under ``accelerate launch``
    every rank trains and only rank 0 writes and returns it (the others return None, and
    ``out_dir`` may be None for them). ``launcher`` (how the stage was launched) goes into
    the lineage.
    """
    from peft import LoraConfig
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    from careal.preference import preflight
    from careal.preference.curves import TrainingCurves

    method = train_params.method
    data_path = Path(data_dir) / f"{method}.jsonl"
    own_rows = read_jsonl(data_path)
    _check_fields(own_rows, KTO_FIELDS if method == "kto" else DPO_FIELDS, data_path)
    rows, rows_by_cycle = accumulate_rows(own_rows, cycle, parent_dir, train_params.accumulate)
    preflight.check_before_loading(train_params, model_params, rows, data_path)
    set_seed(seed)
    parent_has_adapter = has_adapter(parent_dir)
    init = "continue" if train_params.init == "continue" and parent_has_adapter else "fresh"
    ref_policy = "previous" if train_params.ref_policy == "previous" and parent_has_adapter else "base"
    policy = load_policy(base_dir, parent_dir if init == "continue" else None, device=model_params.device, dtype=model_params.dtype, trainable=init == "continue")
    preflight.check_model(policy.model, train_params)
    dataset = build_dataset(method, rows, policy.tokenizer, data_path, seed, train_params.batch_size)
    peft_config = None
    if init == "fresh":
        peft_config = LoraConfig(
            r=train_params.lora_r,
            lora_alpha=train_params.lora_alpha,
            lora_dropout=train_params.lora_dropout,
            target_modules=preflight.lora_target_modules(train_params.lora_target_modules),
            task_type="CAUSAL_LM",
        )
    ref_model = reference_model(init, ref_policy, base_dir, parent_dir, model_params)
    dtype = next(policy.model.parameters()).dtype
    extra = {}
    curves = TrainingCurves(cycle)
    with tempfile.TemporaryDirectory(prefix=f"careal-train-{cycle}-") as work_dir:
        shared = {
            "num_train_epochs": train_params.epochs,
            "per_device_train_batch_size": per_process_batch(train_params.batch_size),  # train.batch_size is the global batch
            "learning_rate": train_params.learning_rate,
            "lr_scheduler_type": train_params.lr_scheduler,
            "warmup_steps": train_params.warmup_ratio,
            "beta": train_params.beta,
            "max_length": train_params.max_length,
            "train_sampling_strategy": "sequential",  # the order build_dataset chose
            **common_trainer_args(work_dir, seed, policy.device, dtype),
        }
        if method == "kto":
            n_desirable = sum(dataset["label"])
            dw, uw = kto_weights(n_desirable, len(dataset) - n_desirable, train_params)
            extra = {"desirable_weight": dw, "undesirable_weight": uw, "n_desirable": n_desirable, "n_undesirable": len(dataset) - n_desirable}
            args = KTOConfig(desirable_weight=dw, undesirable_weight=uw, **shared)
            trainer = KTOTrainer(model=policy.model, ref_model=ref_model, args=args, train_dataset=dataset, processing_class=policy.tokenizer, peft_config=peft_config, callbacks=[curves])
        else:
            extra = {"pairs": len(dataset), "loss": dpo_loss_args(train_params.sft_weight)}
            args = DPOConfig(**dpo_loss_args(train_params.sft_weight), **shared)
            trainer = DPOTrainer(model=policy.model, ref_model=ref_model, args=args, train_dataset=dataset, processing_class=policy.tokenizer, peft_config=peft_config, callbacks=[curves])
        quiet.bar_without_log_lines(trainer)
        score_labelled_positions_only()
        result = trainer.train()
    if not save_trained_adapter(trainer, out_dir, selected_adapters=["default"]):
        return None  # another rank than 0 under accelerate: rank 0 writes the outputs
    _canonicalise_adapter_config(Path(out_dir))
    base = read_base(base_dir)
    lineage = {
        "cycle": cycle,
        "parent": parent,
        "parent_adapter": Path(parent_dir).as_posix() if parent_has_adapter else None,
        "parent_adapter_sha256": dir_sha256(parent_dir) if parent_has_adapter else None,
        "start_adapter": policy.info["adapter"],
        "base_model": base["model"],
        "base_revision": base.get("revision"),
        "base_sha256": base.get("sha256"),
        "method": method,
        "init": init,
        "ref_policy": ref_policy,
        "params": dataclasses.asdict(train_params),
        "seed": seed,
        "data": {"file": data_path.as_posix(), "rows": len(own_rows), "sha256": file_sha256(data_path), "rows_by_cycle": rows_by_cycle, "trained_rows": len(rows), "preference_data": PREFERENCE_DATA},
        "train_loss": round(float(result.training_loss), 6),
        "train_log": log_summary(trainer.state.log_history),
        "steps": int(result.global_step),
        "launcher": launcher or {"kind": "python", "num_processes": world_size()},
        **extra,
        "warnings": curves.warnings,
    }
    write_json(Path(out_dir) / LINEAGE_FILE, lineage)
    write_jsonl(Path(out_dir) / PREFERENCE_DATA, rows)
    return lineage


LOGGED = ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected", "kl")


def log_summary(log_history: list[dict]) -> dict:
    """The first and last logged training values (loss, DPO/KTO rewards and log-probabilities)
    for lineage.json: whether the margin grew, and whether the chosen answers' likelihood fell."""
    logged = [entry for entry in log_history if "loss" in entry and "train_loss" not in entry]
    if not logged:
        return {}
    pick = lambda entry: {k: round(float(entry[k]), 4) for k in LOGGED if k in entry}
    return {"first": {"step": logged[0].get("step"), **pick(logged[0])}, "last": {"step": logged[-1].get("step"), **pick(logged[-1])}}


def reference_model(init: str, ref_policy: str, base_dir, parent_dir, model_params):
    """The explicit frozen reference model trl needs, or None where trl makes it itself
    (fresh adapter + base: adapter disabled; continued adapter + previous: a frozen copy)."""
    if (init, ref_policy) in (("fresh", "base"), ("continue", "previous")):
        return None
    if ref_policy == "base":
        ref = load_policy(base_dir, None, device=model_params.device, dtype=model_params.dtype).model
    else:
        ref = load_policy(base_dir, parent_dir, device=model_params.device, dtype=model_params.dtype).model.merge_and_unload()
    ref.eval()
    for parameter in ref.parameters():
        parameter.requires_grad_(False)
    return ref
