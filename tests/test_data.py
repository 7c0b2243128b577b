import json
from collections import Counter

import pandas as pd
import pytest

from careal.data.sources import load_source
from careal.data.split import leak_guard, prepare, split_by_base_prompt, stratified_sample
from careal.errors import CarealError
from careal.params import DataParams
from careal.data.schema import validate_rows


def rows(n_bases=40, rewrites=("direct", "indirect", "role_play")):
    out = []
    for b in range(n_bases):
        base = f"base prompt number {b}"
        for method in rewrites:
            out.append({"principle_index": b % 8, "generation_model": "t", "harmful_level": b % 4, "method": method, "base_prompt": base, "prompt": base if method == "direct" else f"{method}: {base}"})
    return out


def test_careal_split_never_puts_a_base_prompt_on_both_sides():
    records = validate_rows(rows(), "t")
    train, evaluation = split_by_base_prompt(records, 0.5, seed=3)
    assert {r.base_prompt for r in train}.isdisjoint({r.base_prompt for r in evaluation})
    assert len(train) + len(evaluation) == len(records)
    # stratified by harm level: each level's groups are split in half
    assert Counter(r.harmful_level for r in evaluation) == Counter({0: 15, 1: 15, 2: 15, 3: 15})


def test_leak_guard_drops_and_counts_train_rows_sharing_an_eval_base_prompt():
    records = validate_rows(rows(4), "t")
    train, evaluation = records, [r for r in records if r.base_prompt == "base prompt number 1"][:1]
    kept, leaking = leak_guard(train, evaluation, enabled=True)
    assert leaking == 3 and len(kept) == len(train) - 3
    assert all(r.base_prompt != "base prompt number 1" for r in kept)
    kept_off, leaking_off = leak_guard(train, evaluation, enabled=False)
    assert leaking_off == 3 and len(kept_off) == len(train)


def test_stratified_sample_keeps_cell_shares_and_is_seeded():
    records = validate_rows(rows(80), "t")
    a = stratified_sample(records, 60, seed=1)
    assert len(a) == 60 and a == stratified_sample(records, 60, seed=1)
    assert a != stratified_sample(records, 60, seed=2)
    cells = Counter((r.harmful_level, r.method) for r in a)
    assert set(cells.values()) == {5}  # 12 cells of equal size -> 5 each


def test_builtin_prepare_is_deterministic_and_leak_free():
    params = DataParams(builtin_base_prompts_per_cell=4, train_size=64, eval_size=64)
    train, evaluation, summary = prepare(params, seed=0)
    again = prepare(params, seed=0)
    assert [r.id for r in train] == [r.id for r in again[0]]
    assert {r.base_prompt for r in train}.isdisjoint({r.base_prompt for r in evaluation})
    assert summary["train"]["rows"] == 64 and summary["eval"]["rows"] == 64
    assert set(summary["train"]["by_harm_level"]) == {"0", "1", "2", "3"}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_real_rows_load_unchanged_through_the_file_source(real_rows_path, tmp_path, suffix):
    raw = [json.loads(line) for line in real_rows_path.read_text().splitlines() if line.strip()]
    path = tmp_path / f"cares{suffix}"
    if suffix == ".jsonl":
        path.write_text(real_rows_path.read_text())
    elif suffix == ".csv":
        pd.DataFrame(raw).to_csv(path, index=False)
    else:
        pd.DataFrame(raw).to_parquet(path)
    (records,) = load_source(DataParams(source=str(path)), seed=0).values()
    assert [r.prompt for r in records] == [r["prompt"] for r in raw]
    assert [r.harmful_level for r in records] == [r["harmful_level"] for r in raw]
    assert [r.base_prompt for r in records] == [r["base_prompt"] for r in raw]


def test_real_rows_prepare_without_leaks(real_rows_path):
    params = DataParams(source=str(real_rows_path), train_size=0, eval_size=0)
    train, evaluation, summary = prepare(params, seed=0)
    assert len(train) + len(evaluation) == 300
    assert {r.base_prompt for r in train}.isdisjoint({r.base_prompt for r in evaluation})


def test_hf_source_with_its_own_splits_applies_the_leak_guard(real_rows_path, tmp_path):
    """The hf: code path on a local dataset folder laid out like the hub's (data/<split>-*.parquet)."""
    raw = [json.loads(line) for line in real_rows_path.read_text().splitlines() if line.strip()]
    folder = tmp_path / "CARES-18K" / "data"
    folder.mkdir(parents=True)
    eval_rows = raw[:150]
    train_rows = raw[150:] + raw[:5]  # five rows whose base prompt is also in the eval split
    pd.DataFrame(train_rows).to_parquet(folder / "train-00000-of-00001.parquet")
    pd.DataFrame(eval_rows).to_parquet(folder / "test-00000-of-00001.parquet")
    params = DataParams(source=f"hf:{folder.parent}", train_size=0, eval_size=0)
    train, evaluation, summary = prepare(params, seed=0)
    assert len(evaluation) == 150
    assert summary["leak_guard"]["dropped"] >= 5
    assert {r.base_prompt for r in train}.isdisjoint({r.base_prompt for r in evaluation})


def test_unknown_source_is_a_clear_error():
    with pytest.raises(CarealError, match="not builtin"):
        load_source(DataParams(source="prompts.txt"), seed=0)
