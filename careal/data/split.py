"""prepare: split CARES-format records without leaks and draw stratified train and eval sets.

Leaks: rewrites share their base prompt, so careal's own split assigns whole base-prompt groups
to train or eval (stratified by harm level). A source with its own train and eval splits keeps
them, and train rows whose base_prompt also appears in the eval set are dropped and counted
(``leak_guard: false`` keeps them, still counted).

Validation (``data.validation_size`` > 0; careal/selection.py selects a policy on it): whole
base-prompt groups carved from the train side, never the eval side (for ``hf:`` sources the
dataset's train split, never its test split), stratified by harm level, then drawn stratified
by harm level x method like eval; the rest of those groups is dropped from train, so the three
splits share no base prompt.
"""

from __future__ import annotations

import random
from collections import defaultdict

from careal.data.schema import CaresRecord
from careal.data.sources import load_source
from careal.errors import CarealError, DataError


def _group_key(base_prompt: str) -> str:
    return " ".join(base_prompt.split()).casefold()


def split_by_base_prompt(records: list[CaresRecord], eval_fraction: float, seed: int) -> tuple[list[CaresRecord], list[CaresRecord]]:
    """Assign whole base-prompt groups to train or eval, ``eval_fraction`` of the groups of each
    harm level to eval. No base prompt ends up on both sides."""
    if not 0 < eval_fraction < 1:
        raise CarealError(f"params.yaml: data.eval_fraction must be between 0 and 1, got {eval_fraction}")
    groups: dict[str, list[CaresRecord]] = defaultdict(list)
    for record in records:
        groups[_group_key(record.base_prompt)].append(record)
    by_level: dict[int, list[str]] = defaultdict(list)
    for key in sorted(groups):
        by_level[groups[key][0].harmful_level].append(key)
    rng = random.Random(seed)
    eval_keys = set()
    for level in sorted(by_level):
        keys = by_level[level]
        rng.shuffle(keys)
        eval_keys.update(keys[: round(len(keys) * eval_fraction)])
    train = [r for r in records if _group_key(r.base_prompt) not in eval_keys]
    evaluation = [r for r in records if _group_key(r.base_prompt) in eval_keys]
    return train, evaluation


def stratified_sample(records: list[CaresRecord], size: int, seed: int) -> list[CaresRecord]:
    """``size`` records drawn so that each harm level x method cell keeps its share (largest
    remainder rounding); ``size`` 0 or >= len(records) keeps all. Output is in input order."""
    if size <= 0 or size >= len(records):
        return list(records)
    cells: dict[tuple, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        cells[(record.harmful_level, record.method)].append(index)
    keys = sorted(cells)
    exact = {k: size * len(cells[k]) / len(records) for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (-(exact[k] - quota[k]), k))[: size - sum(quota.values())]:
        quota[k] += 1
    rng = random.Random(seed)
    chosen = []
    for k in keys:
        chosen.extend(rng.sample(cells[k], quota[k]))
    return [records[i] for i in sorted(chosen)]


def leak_guard(train: list[CaresRecord], evaluation: list[CaresRecord], enabled: bool) -> tuple[list[CaresRecord], int]:
    """Drop train records whose base_prompt is in the eval set (when enabled); return the kept
    records and how many share a base prompt with eval."""
    eval_keys = {_group_key(r.base_prompt) for r in evaluation}
    leaking = [r for r in train if _group_key(r.base_prompt) in eval_keys]
    if not enabled:
        return list(train), len(leaking)
    return [r for r in train if _group_key(r.base_prompt) not in eval_keys], len(leaking)


def carve_validation(train_pool: list[CaresRecord], size: int, seed: int) -> tuple[list[CaresRecord], list[CaresRecord]]:
    """(validation, rest of the train pool): ``size`` rows from whole base-prompt groups of the
    train pool, the same share of each harm level's groups (rounded up, so the rows suffice),
    then ``stratified_sample`` by harm level x method. The rest is the pool without the base
    prompts drawn (a group with no row drawn stays in train): no base prompt is on two sides.
    ``size`` 0: no validation."""
    if size <= 0:
        return [], list(train_pool)
    if size >= len(train_pool):
        raise CarealError(f"params.yaml: data.validation_size is {size}, but the train side has only {len(train_pool)} rows "
                          f"(after the eval split and the leak guard); choose fewer, or 0 for no validation split")
    import math

    groups: dict[str, list[CaresRecord]] = defaultdict(list)
    for record in train_pool:
        groups[_group_key(record.base_prompt)].append(record)
    by_level: dict[int, list[str]] = defaultdict(list)
    for key in sorted(groups):
        by_level[groups[key][0].harmful_level].append(key)
    share = size / len(train_pool)
    rng = random.Random(f"validation-{seed}")
    chosen: set[str] = set()
    for level in sorted(by_level):
        keys = by_level[level]
        rng.shuffle(keys)
        chosen.update(keys[: min(len(keys), math.ceil(len(keys) * share))])
    validation = stratified_sample([r for r in train_pool if _group_key(r.base_prompt) in chosen], size, seed + 2)
    drawn = {_group_key(r.base_prompt) for r in validation}
    return validation, [r for r in train_pool if _group_key(r.base_prompt) not in drawn]


def _counts(records: list[CaresRecord]) -> dict:
    def count(key):
        out = defaultdict(int)
        for r in records:
            out[str(getattr(r, key))] += 1
        return dict(sorted(out.items()))

    return {
        "rows": len(records),
        "base_prompts": len({_group_key(r.base_prompt) for r in records}),
        "by_harm_level": count("harmful_level"),
        "by_method": count("method"),
        "by_principle": count("principle_index"),
    }


def prepare(params, seed: int) -> tuple[list[CaresRecord], list[CaresRecord], dict]:
    """Train and eval records and a summary, from DataParams and the seed."""
    train, _, evaluation, summary = prepare_splits(params, seed)
    return train, evaluation, summary


def prepare_splits(params, seed: int) -> tuple[list[CaresRecord], list[CaresRecord], list[CaresRecord], dict]:
    """Train, validation (empty when ``data.validation_size`` is 0) and eval records and a
    summary, from DataParams and the seed."""
    skipped: list[DataError] = []
    extra: dict[str, int] = {}
    splits = load_source(params, seed, skipped, extra)
    summary = {"source": params.source, "seed": seed}
    if extra:  # named once here, not once per row
        summary["extra_columns"] = {"columns": dict(sorted(extra.items())), "note": "not CARES columns: read, counted (rows that have each) and not used"}
    if getattr(params, "on_bad_rows", "error") == "skip":
        summary["skipped_rows"] = {
            "count": len(skipped),
            "rows": [{"file": e.path, "row": e.row, "field": e.field, "problem": e.problem} for e in skipped],
        }
    if "all" in splits:
        train_pool, eval_pool = split_by_base_prompt(splits["all"], params.eval_fraction, seed)
        summary["split"] = f"careal: base-prompt groups, {params.eval_fraction:g} of each harm level to eval"
        summary["source_rows"] = len(splits["all"])
    else:
        train_pool, eval_pool = splits["train"], splits["eval"]
        summary["split"] = "source's own train/eval splits"
        summary["source_rows"] = len(train_pool) + len(eval_pool)
    evaluation = stratified_sample(eval_pool, params.eval_size, seed)
    train_pool, leaking = leak_guard(train_pool, evaluation, params.leak_guard)
    # validation never shares a base prompt with eval, even with the leak guard off
    eval_keys = {_group_key(r.base_prompt) for r in evaluation}
    validation, _ = carve_validation([r for r in train_pool if _group_key(r.base_prompt) not in eval_keys], getattr(params, "validation_size", 0), seed)
    validation_keys = {_group_key(r.base_prompt) for r in validation}
    train_pool = [r for r in train_pool if _group_key(r.base_prompt) not in validation_keys] if validation else train_pool
    train = stratified_sample(train_pool, params.train_size, seed + 1)
    summary["leak_guard"] = {"enabled": params.leak_guard, "train_rows_sharing_eval_base_prompt": leaking, "dropped": leaking if params.leak_guard else 0}
    if not train:
        raise CarealError(f"data.source {params.source}: no train rows left after the split and the leak guard")
    if not evaluation:
        raise CarealError(f"data.source {params.source}: no eval rows")
    summary["train"] = _counts(train)
    summary["eval"] = _counts(evaluation)
    summary["validation"] = {**_counts(validation), "from": "the train side (hf: its train split), whole base-prompt groups"} if validation else {
        "rows": 0, "note": "data.validation_size is 0: no validation split, the select stage selects nothing"}
    if validation:
        sides = {name: {_group_key(r.base_prompt) for r in rows} for name, rows in (("train", train), ("validation", validation), ("eval", evaluation))}
        summary["leak_guard"]["validation_base_prompts_shared"] = {"train": len(sides["validation"] & sides["train"]), "eval": len(sides["validation"] & sides["eval"])}
    return train, validation, evaluation, summary
