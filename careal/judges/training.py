"""The ``judge_train`` stage: fit the ``classifier`` judge (careal/judges/classifier.py) on
labelled (prompt, response, label) rows and measure it on held-out prompts.

Rows (``judge_train.source``):

- ``styles`` (default): answers careal writes in its three styles (``careal.data.styles.style_answer``:
  accept -> Accept, caution -> Caution, refuse -> Refuse), ``answers_per_prompt`` per prompt of
  the prepared **train** pool (data/prepared/train.jsonl; eval prompts are never read), styles
  balanced and shuffled with the seed. Their labels are known, not judged.
- a ``.jsonl`` file of ``prompt``, ``response``, ``label`` records (Reject counts as Refuse); a
  bad row stops the stage with one error naming file, row and field.

``judge_train.labels``: ``known`` trains on the rows' own labels; ``rules`` trains on the labels
the rules judge gives the same answers (distilling another judge; its Unparsed rows are left
out and counted as ``unparsed_left_out``).

Prompts (not rows) are split: ``heldout_fraction`` of the distinct prompts, drawn with the seed,
are held out, so no prompt is in both parts. The held-out figures (accuracy, macro-F1, per-class
precision / recall / F1, by ``careal.metrics.reliability.against_gold`` on the argmax class, plus how
many would be Unparsed at the judge's default margin) go into ``metrics/judge_train.json`` (a DVC
metric) and ``judge.json``.

When no judge in params.yaml has kind ``classifier``, the stage
trains nothing: it writes a constant ``judge.json`` (``trained: false``) and metric, in about a
second, so the default pipeline pays nothing and the stages that depend on models/judge see the
same bytes (they do not rerun).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

from careal import quiet
from careal.errors import CarealError, DataError
from careal.judges.classifier import CLASSES, INFO_FILE, WEIGHTS_FILE
from careal.metrics.scoring import LABELS, UNPARSED, normalize_label

STYLE_LABEL = {"accept": "Accept", "caution": "Caution", "refuse": "Refuse"}
NOT_TRAINED = {
    "trained": False,
    "why": "no judge in params.yaml has kind classifier, so judge_train trained nothing; set judge.train.kind or judge.eval.kind to classifier and rerun",
}


def classifier_in_use(params) -> bool:
    """Whether a judge of params.yaml has kind classifier (the stage's DVC params are the
    judges' kinds and select.other_validators, so this is all it may decide on)."""
    select = getattr(params.judge, "select", None)
    others = list(getattr(getattr(params, "select", None), "other_validators", []) or [])
    return any(s is not None and s.kind == "classifier" for s in (params.judge.train, params.judge.eval, select, *others))


def style_rows(prompts: list[dict], per_prompt: int, seed: int) -> list[dict]:
    """``per_prompt`` careal-written answers per prompt, styles balanced over the whole set."""
    from careal.data.styles import STYLES, style_answer

    rng = random.Random(seed)
    n = len(prompts) * per_prompt
    styles = [STYLES[i % len(STYLES)] for i in range(n)]
    rng.shuffle(styles)
    rows = []
    for i, record in enumerate(prompts):
        for k in range(per_prompt):
            style = styles[i * per_prompt + k]
            rows.append({"prompt": record["prompt"], "response": style_answer(style, rng), "label": STYLE_LABEL[style]})
    return rows


def file_rows(path: str | Path) -> list[dict]:
    """Labelled rows from a .jsonl file; one DataError (file, row, field) for a bad row."""
    from careal.jsonio import read_jsonl

    path = Path(path)
    if not path.exists():
        raise CarealError(f"params.yaml: judge_train.source {path.as_posix()!r} is neither 'styles' nor an existing .jsonl file")
    rows = []
    for number, row in enumerate(read_jsonl(path), start=1):
        if not isinstance(row, dict):
            raise DataError(path, number, None, "not a JSON object")
        for name in ("prompt", "response", "label"):
            if not isinstance(row.get(name), str) or (name != "response" and not row[name].strip()):
                raise DataError(path, number, name, "missing, empty or not a string")
        label = normalize_label(row["label"])
        if label not in LABELS:
            raise DataError(path, number, "label", f"must be Accept, Caution or Refuse (or Reject), got {row['label']!r}")
        rows.append({"prompt": row["prompt"], "response": row["response"], "label": label})
    if not rows:
        raise DataError(path, None, None, "no rows")
    return rows


def relabel_with_rules(rows: list[dict]) -> tuple[list[dict], int]:
    """The rules judge's labels of the same answers; its Unparsed rows are left out (counted)."""
    from careal.judges import RulesJudge, judge_pairs

    verdicts = judge_pairs(RulesJudge(), [(r["prompt"], r["response"]) for r in rows])
    kept = [{**r, "label": label} for r, (label, _) in zip(rows, verdicts) if label != UNPARSED]
    return kept, len(rows) - len(kept)


def split_by_prompt(rows: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train rows, held-out rows): a seeded ``fraction`` of the distinct prompts is held out."""
    prompts = sorted({r["prompt"] for r in rows})
    if len(prompts) < 2:
        raise CarealError(f"judge_train: the rows hold {len(prompts)} distinct prompt(s); at least 2 are needed to hold some out")
    random.Random(seed).shuffle(prompts)
    n_held = min(len(prompts) - 1, max(1, math.ceil(fraction * len(prompts))))
    held = set(prompts[:n_held])
    return [r for r in rows if r["prompt"] not in held], [r for r in rows if r["prompt"] in held]


def resolve_base(setting: str, base_dir: Path) -> dict:
    """What the classifier starts from: ``auto`` = the pipeline's base model (models/base for
    builtin:tiny, else model.base as bootstrap recorded it), or a hub id / local folder."""
    from careal.policy.loading import read_base, require_safetensors

    if setting == "auto":
        spec = read_base(base_dir)
        if spec.get("weights") == "local":
            return {"model": spec["model"], "source": Path(base_dir).as_posix(), "revision": None, "sha256": spec.get("sha256"), "trust_remote_code": False}
        if Path(spec["model"]).is_dir():
            require_safetensors(spec["model"], "the base model")
        return {"model": spec["model"], "source": spec["model"], "revision": spec.get("revision"), "sha256": spec.get("sha256"), "trust_remote_code": spec.get("trust_remote_code", False) is True}
    if Path(setting).is_dir():
        require_safetensors(setting, "judge_train.base")
    return {"model": setting, "source": setting, "revision": None, "sha256": None, "trust_remote_code": False}


def heldout_figures(pred: list[str], gold: list[str], unparsed_at_margin: int) -> dict:
    from careal.metrics.reliability import against_gold

    figures = against_gold(pred, gold, LABELS)
    figures["unparsed_at_default_margin"] = unparsed_at_margin
    return figures


def metrics_headline(info: dict) -> dict:
    """The DVC metric metrics/judge_train.json: a few figures (the whole report is judge.json)."""
    if not info.get("trained"):
        return {"trained": False}
    held = info["heldout"]
    return {
        "trained": True,
        "n_train": info["data"]["n_train"],
        "n_heldout": held["n"],
        "heldout_accuracy": held["accuracy"],
        "heldout_macro_f1": held["macro_f1"],
        **{f"heldout_f1_{label.lower()}": held["per_class"][label]["f1"] for label in LABELS},
        "train_loss": info["training"]["train_loss"],
    }


def train_classifier(settings, *, seed: int, prompts: list[dict], base_dir: Path, out_dir: Path, progress: bool = True) -> dict | None:
    """Fit the classifier on the rows ``settings`` (JudgeTrainParams) ask for; save the adapter
    and judge.json into ``out_dir``; returns judge.json's content. Under ``accelerate launch``
    every rank trains and only rank 0 saves, evaluates and returns (the others: None)."""
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from careal.jsonio import write_json
    from careal.judges.classifier import DEFAULT_MIN_MARGIN, INPUT_FORMAT, classifier_text, load_base_for_classification, predict_probabilities, verdict
    from careal.policy.loading import file_sha256, load_kwargs, resolve_device, resolve_dtype
    from careal.policy.distributed import per_process_batch, save_trained_adapter, world_size
    from careal.policy.trainer_args import common_trainer_args

    s = settings
    if s.source == "styles":
        rows, source = style_rows(prompts, s.answers_per_prompt, seed), "styles"
    else:
        rows, source = file_rows(s.source), Path(s.source).as_posix()
    unparsed = 0
    if s.labels == "rules":
        rows, unparsed = relabel_with_rules(rows)
    train_rows, held_rows = split_by_prompt(rows, s.heldout_fraction, seed)
    counts = Counter(r["label"] for r in train_rows)
    if len(counts) < 2:
        raise CarealError(f"judge_train: the training rows hold one label only ({dict(counts)}); a classifier needs at least two")

    set_seed(seed)
    device = resolve_device(s.device)
    dtype = resolve_dtype(s.dtype, device)
    base = resolve_base(s.base, base_dir)
    model, tokenizer = load_base_for_classification(base["source"], load_kwargs(base), dtype=dtype, device=device)
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=0.0, target_modules=s.lora_target_modules)
    model = get_peft_model(model, lora)  # the head ("score") is trained in full: peft's modules_to_save for SEQ_CLS

    label_id = {label: i for i, label in enumerate(CLASSES)}
    texts = [classifier_text(tokenizer, r["prompt"], r["response"]) for r in train_rows]
    enc = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=s.max_length)
    dataset = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": [label_id[r["label"]] for r in train_rows]})
    tokenizer.padding_side = "right"  # training rows start at position 0; prediction pads left with matching positions
    import tempfile

    with tempfile.TemporaryDirectory(prefix="careal-judge-train-") as work:
        args = TrainingArguments(
            num_train_epochs=s.epochs,
            per_device_train_batch_size=per_process_batch(s.batch_size),  # judge_train.batch_size is the global batch
            learning_rate=s.learning_rate,
            lr_scheduler_type="linear",
            weight_decay=0.0,
            disable_tqdm=not progress,
            **common_trainer_args(work, seed, device, dtype),
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer))
        quiet.bar_without_log_lines(trainer)
        result = trainer.train()
    if not save_trained_adapter(trainer, out_dir):
        return None  # another rank than 0 under accelerate: rank 0 writes the outputs
    model = trainer.model

    model.eval()
    merged = model.merge_and_unload()
    merged.eval()
    probs = predict_probabilities(merged, tokenizer, device, [(r["prompt"], r["response"]) for r in held_rows], batch_size=32, max_length=s.max_length)
    pred = [CLASSES[max(range(len(CLASSES)), key=lambda k: (p[k], -k))] for p in probs]
    at_margin = sum(verdict(p, DEFAULT_MIN_MARGIN)[0] == UNPARSED for p in probs)
    info = {
        "trained": True,
        "kind": "classifier",
        "base": base,
        "classes": list(CLASSES),
        "input_format": INPUT_FORMAT,
        "max_length": s.max_length,
        "weights_sha256": file_sha256(Path(out_dir) / WEIGHTS_FILE),
        "data": {
            "source": source,
            "labels": s.labels,
            "rows": len(rows) + unparsed,
            "unparsed_left_out": unparsed,
            "n_train": len(train_rows),
            "n_heldout": len(held_rows),
            "train_label_counts": {label: counts.get(label, 0) for label in LABELS},
            "heldout_prompts": len({r["prompt"] for r in held_rows}),
        },
        "training": {
            "seed": seed,
            "epochs": s.epochs,
            "learning_rate": s.learning_rate,
            "batch_size": s.batch_size,
            "lora_r": s.lora_r,
            "lora_alpha": s.lora_alpha,
            "lora_target_modules": s.lora_target_modules,
            "steps": int(result.global_step),
            "train_loss": round(float(result.training_loss), 6),
            "device": device,
            "dtype": str(dtype).replace("torch.", ""),
            "launcher": {"kind": s.launcher, "num_processes": world_size(), **({"config": s.accelerate_config} if s.launcher == "accelerate" else {})},
        },
        "heldout": heldout_figures(pred, [r["label"] for r in held_rows], at_margin),
    }
    write_json(Path(out_dir) / INFO_FILE, info)
    return info


def write_not_trained(out_dir: Path) -> dict:
    from careal.jsonio import write_json

    write_json(Path(out_dir) / INFO_FILE, NOT_TRAINED)
    return dict(NOT_TRAINED)
