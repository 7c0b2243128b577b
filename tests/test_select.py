"""Policy selection (issue 26, docs/selection.md): the three splits, the rule's conditions, two
validators that pick different policies, the rule over experiments, and the fast paths of the
select stage. The end-to-end checks on the reduced run are in tests/test_select_dvc.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from careal.data.split import _group_key, prepare, prepare_splits
from careal.errors import CarealError
from careal.metrics.selection import conditions, select, unpaired_beats
from careal.params import parse_params
from careal.params.sections import DataParams

ROOT = Path(__file__).resolve().parents[1]


def keys(records):
    return {_group_key(r.base_prompt) for r in records}


# --- the three splits ------------------------------------------------------------------------


def test_validation_split_is_disjoint_by_base_prompt_and_stratified_like_eval():
    params = DataParams(builtin_base_prompts_per_cell=4, train_size=0, eval_size=64, validation_size=64)
    train, validation, evaluation, summary = prepare_splits(params, seed=0)
    assert len(validation) == 64 and len(evaluation) == 64
    assert keys(train).isdisjoint(keys(validation)) and keys(validation).isdisjoint(keys(evaluation)) and keys(train).isdisjoint(keys(evaluation))
    # stratified by harm level x method, like eval: 64 rows = 4 levels x 4 methods x 4
    assert summary["validation"]["by_harm_level"] == {str(level): 16 for level in range(4)}
    assert summary["validation"]["by_method"] == {m: 16 for m in ("direct", "indirect", "obfuscate", "role_play")}
    assert summary["leak_guard"]["validation_base_prompts_shared"] == {"train": 0, "eval": 0}
    # the same seed gives the same split; train loses only the validation's base prompts
    assert [r.id for r in prepare_splits(params, seed=0)[1]] == [r.id for r in validation]
    without = prepare_splits(DataParams(builtin_base_prompts_per_cell=4, train_size=0, eval_size=64), seed=0)
    assert [r.id for r in without[2]] == [r.id for r in evaluation]  # eval untouched
    assert {r.id for r in without[0]} == {r.id for r in train} | {r.id for r in without[0] if _group_key(r.base_prompt) in keys(validation)}


def test_validation_size_zero_means_no_split_and_too_large_is_a_clear_error():
    train, validation, evaluation, summary = prepare_splits(DataParams(builtin_base_prompts_per_cell=2, train_size=0, eval_size=32), seed=0)
    assert validation == [] and summary["validation"]["rows"] == 0 and "no validation split" in summary["validation"]["note"]
    assert [r.id for r in prepare(DataParams(builtin_base_prompts_per_cell=2, train_size=0, eval_size=32), seed=0)[0]] == [r.id for r in train]
    with pytest.raises(CarealError, match="data.validation_size is 100000, but the train side has only"):
        prepare_splits(DataParams(builtin_base_prompts_per_cell=2, train_size=0, eval_size=32, validation_size=100000), seed=0)
    with pytest.raises(CarealError, match="data.validation_size is -1"):
        parse_params({"data": {"validation_size": -1}})


def test_hf_validation_is_carved_from_the_train_split_never_the_test_split(real_rows_path, tmp_path):
    raw = [json.loads(line) for line in real_rows_path.read_text().splitlines() if line.strip()]
    folder = tmp_path / "CARES-18K" / "data"
    folder.mkdir(parents=True)
    test_rows, train_rows = raw[:150], raw[150:]
    pd.DataFrame(train_rows).to_parquet(folder / "train-00000-of-00001.parquet")
    pd.DataFrame(test_rows).to_parquet(folder / "test-00000-of-00001.parquet")
    params = DataParams(source=f"hf:{folder.parent}", train_size=0, eval_size=0, validation_size=30)
    train, validation, evaluation, summary = prepare_splits(params, seed=0)
    prompts = lambda rows: {r["prompt"] for r in rows}  # noqa: E731
    assert len(validation) == 30 and {r.prompt for r in validation} <= prompts(train_rows)
    assert not {r.prompt for r in validation} & prompts(test_rows)
    assert keys(validation).isdisjoint(keys(train)) and keys(validation).isdisjoint(keys(evaluation))
    assert summary["validation"]["rows"] == 30 and len(evaluation) == 150


# --- the rule --------------------------------------------------------------------------------


def cell(value, half=0.02):
    return {"value": value, "lo": value - half, "hi": value + half}


def figs(safety, erroneous=0.10, fluency=1.0, half=0.02):
    return {"safety_score": cell(safety, half), "erroneous_refusal_rate": cell(erroneous, half), "fluency": cell(fluency, half)}


def always(significant):
    return lambda challenger, pick: {"difference": None, "significant": significant}


def test_rule_conditions_tolerance_and_fluency_against_c0():
    ref = figs(0.5, erroneous=0.10, fluency=0.80)
    assert conditions(figs(0.9, erroneous=0.15), ref, 0.05, 0.95)["erroneous_refusal"]["passed"]      # at the bound
    assert not conditions(figs(0.9, erroneous=0.151), ref, 0.05, 0.95)["eligible"]
    assert conditions(figs(0.9, fluency=0.76), ref, 0.05, 0.95)["fluency"]["passed"]                   # 0.95 x 0.80
    assert not conditions(figs(0.9, fluency=0.75), ref, 0.05, 0.95)["fluency"]["passed"]
    figures = {"c0": ref, "c1": figs(0.7), "c2": figs(0.95, erroneous=0.30), "c3": figs(0.9, fluency=0.5)}
    result = select(["c0", "c1", "c2", "c3"], figures, "c0", max_erroneous_increase=0.05, min_fluency_ratio=0.95, beats=always(True))
    assert result["selected"] == "c1"  # c2 over-refuses, c3 is not fluent: both ineligible although safer
    assert [result["candidates"][p]["eligible"] for p in ("c0", "c1", "c2", "c3")] == [True, True, False, False]
    assert "not eligible (erroneous_refusal)" in result["steps"][2] and "not eligible (fluency)" in result["steps"][3]
    loose = select(["c0", "c1", "c2", "c3"], figures, "c0", max_erroneous_increase=0.25, min_fluency_ratio=0.5, beats=always(True))
    assert loose["selected"] == "c2"


def test_rule_noise_guard_and_ties_go_to_the_earlier_cycle():
    figures = {"c0": figs(0.5), "c1": figs(0.80), "c2": figs(0.82), "c3": figs(0.82)}
    kw = dict(max_erroneous_increase=0.05, min_fluency_ratio=0.95)
    # c1 beats c0 beyond noise; c2's gain over c1 is within noise: c1 stays
    guarded = select(["c0", "c1", "c2", "c3"], figures, "c0", beats=lambda ch, pick: {"significant": pick == "c0"}, **kw)
    assert guarded["selected"] == "c1" and "within noise, c1 kept" in guarded["steps"][2]
    # without the guard the highest Safety Score wins, and the tie c2 = c3 goes to the earlier c2
    plain = select(["c0", "c1", "c2", "c3"], figures, "c0", noise_guard=False, beats=always(False), **kw)
    assert plain["selected"] == "c2" and "not above" in plain["steps"][3]
    # a later cycle that beats the pick beyond noise replaces it
    assert select(["c0", "c1", "c2"], figures, "c0", beats=always(True), **kw)["selected"] == "c2"
    # unpaired (across experiments): 0.82 - 0.80 is within two half-widths of 0.02 in quadrature; 0.5 -> 0.8 is not
    unpaired = select(["c0", "c1", "c2"], figures, "c0", beats=unpaired_beats(figures), **kw)
    assert unpaired["selected"] == "c1"
    assert unpaired["candidates"]["c2"]["against_pick"]["significant"] is False


# --- two validators, one constructed run -----------------------------------------------------


def constructed_run():
    """Validation items of c0, c1, c2 under two validators that disagree: the rules-like one
    sees c2's terse refusals as refusals (c2 safest), the other reads them as acceptances of
    harmful prompts and prefers c1."""
    prompts = [{"id": f"p{b}-{m}", "base_prompt": f"base {b}", "harmful_level": b % 4, "method": m, "principle_index": 0, "prompt": f"{m} {b}"}
               for b in range(40) for m in ("direct", "indirect")]

    def items(label_of):
        return [{**p, "sample": 0, "response": "I can explain that in general terms.", "label": label_of(p)} for p in prompts]

    ideal = lambda p: "Accept" if p["harmful_level"] == 0 else "Refuse"  # noqa: E731
    c0 = lambda p: "Accept"  # noqa: E731
    # c1: ideal on every harmful prompt of even base number, accepts the others
    c1 = lambda p: ideal(p) if int(p["base_prompt"].split()[1]) % 2 == 0 else "Accept"  # noqa: E731
    first = {"c0": items(c0), "c1": items(c1), "c2": items(ideal)}
    # the second validator reads c2's refusals as acceptances (a lenient judge)
    second = {"c0": items(c0), "c1": items(c1), "c2": items(c0)}
    return first, second


def test_two_validators_select_different_policies_and_both_choices_are_recorded():
    from careal.selection import select_in_run

    params = parse_params({"evaluate": {"policies": ["c0", "c1", "c2"]}, "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}},
                           "judge": {"select": {"kind": "rules"}}, "select": {"other_validators": [{"kind": "self"}]}})
    first, second = constructed_run()
    record = select_in_run(params, [first, second])
    assert record["selected"] == "c2" and record["validator"] == {"kind": "rules"}
    assert [(v["where"], v["name"], v["selected"]) for v in record["by_validator"]] == [
        ("judge.select", "rules", "c2"), ("select.other_validators[0]", "self", "c1")]
    assert record["validators_agree"] is False
    c2 = record["candidates"]["c2"]
    assert c2["eligible"] and c2["against_pick"]["pick"] == "c1" and c2["against_pick"]["significant"] is True
    assert set(c2["figures"]["safety_score"]) == {"value", "lo", "hi"}
    assert record["validation"]["prompts"] == 80 and record["validation"]["base_prompts"] == 40
    details = record["details"]["by_validator"]  # metrics/selected_details.json: each validator's whole table
    assert "c1->c2" in details[0]["comparisons"] and record["rule"]["reference"] == "c0"
    assert details[1]["selected"] == "c1" and details[1]["candidates"]["c1"]["eligible"]


def test_other_validators_are_typed_judges():
    params = parse_params({"evaluate": {"policies": ["c0"]}, "select": {"other_validators": [{"kind": "self", "min_margin": 0.2}]}})
    assert params.select.other_validators[0].kind == "self" and params.select.other_validators[0].min_margin == 0.2
    with pytest.raises(CarealError, match=r"select.other_validators\[0\]"):
        parse_params({"evaluate": {"policies": ["c0"]}, "select": {"other_validators": [{"kind": "oracle"}]}})
    with pytest.raises(CarealError, match=r"unknown key\(s\) select.other_validators\[0\].colour"):
        parse_params({"evaluate": {"policies": ["c0"]}, "select": {"other_validators": [{"kind": "rules", "colour": 1}]}})


# --- across experiments ----------------------------------------------------------------------


def git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_select_experiments_reads_each_experiment_commit_and_reports_each_validator(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from careal.cli import main
    from careal.selection import select_in_run

    params = parse_params({"evaluate": {"policies": ["c0", "c1", "c2"]}, "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}},
                           "select": {"other_validators": [{"kind": "self"}]}})
    first, second = constructed_run()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "metrics").mkdir()
    (repo / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    # experiment "dpo": the constructed run; "kto": the same with every figure of c2 and c1 swapped
    for name, validators in (("dpo-s0", [first, second]), ("kto-s0", [second, first])):
        record = select_in_run(params, validators)
        (repo / "metrics" / "selected_details.json").write_text(json.dumps(record.pop("details")))
        (repo / "metrics" / "selected.json").write_text(json.dumps(record))
        (repo / "metrics" / "c2.json").write_text(json.dumps({"safety_score": 0.9, "erroneous_refusal_rate": 0.1}))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", name)
        git(repo, "update-ref", f"refs/exps/ab/cdef/{name}", git(repo, "rev-parse", "HEAD"))
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["select", "--experiments", "--json", "sel.json"])
    assert result.exit_code == 0, result.output
    out = json.loads((repo / "sel.json").read_text())
    assert [s["validator"] for s in out["selections"]] == ["rules", "self"]
    # rules: dpo's c2 beats everything (its c2 is ideal); self: kto's c2 (ideal under self there)
    assert [s["selected"] for s in out["selections"]] == ["dpo-s0:c2", "kto-s0:c2"]
    assert out["selections"][0]["eval_estimate"]["figures"]["safety_score"] == 0.9
    assert "dpo-s0:c2" in result.output and "<- selected" in result.output and "DISAGREE" in result.output
    only = CliRunner().invoke(main, ["select", "--experiments", "-n", "kto"])
    assert only.exit_code == 0 and "dpo-s0" not in only.output, only.output


def test_select_with_no_validation_split_selects_nothing_with_a_clear_message(tmp_path, monkeypatch):
    from careal.pipeline import run_prepare
    from careal.selection import SELECTED_METRICS, run_select, run_validation

    monkeypatch.chdir(tmp_path)
    params = parse_params({"data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32, "validation_size": 0},
                           "evaluate": {"policies": ["c0"]}})
    run_prepare(params)
    assert Path("data/prepared/validation.jsonl").read_text() == ""
    assert "no validation split" in run_validation(params, "c0")["skipped"]
    record = run_select(params)
    assert record["selected"] is None and "data.validation_size is 0" in record["note"]
    assert json.loads(SELECTED_METRICS.read_text())["selected"] is None
    assert json.loads(Path("models/selected/lineage.json").read_text())["selected_from"] is None


def test_select_stage_copies_the_chosen_adapter_with_its_lineage_and_reports_the_eval_figures(tmp_path, monkeypatch):
    """run_select on a constructed project: c2 wins on validation, so models/selected holds c2's
    adapter files and a lineage naming c2, and the eval estimate is c2's eval figures."""
    from careal.jsonio import write_json, write_jsonl
    from careal.metrics.confidence import headline_intervals, policy_intervals
    from careal.metrics.scoring import compute_metrics, headline
    from careal.policy.export import export_policy
    from careal.selection import SELECTED_DETAILS, SELECTED_METRICS, run_select

    monkeypatch.chdir(tmp_path)
    params = parse_params({"data": {"validation_size": 80}, "evaluate": {"policies": ["c0", "c1", "c2"]},
                           "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}}})
    first, _ = constructed_run()
    fields = ("id", "base_prompt", "harmful_level", "method", "principle_index", "prompt")
    write_jsonl(Path("data/prepared/validation.jsonl"), [{k: i[k] for k in fields} | {"generation_model": "t"} for i in first["c0"]])
    for policy, items in first.items():
        write_jsonl(Path(f"data/validation/{policy}/answers.jsonl"), [{"id": i["id"], "sample": 0, "prompt": i["prompt"], "response": i["response"]} for i in items])
        write_jsonl(Path(f"data/validation/{policy}/judgments.jsonl"), [{"id": i["id"], "sample": 0, "label": i["label"]} for i in items])
        full = compute_metrics(items)
        full["intervals"] = policy_intervals(items, 0)
        write_json(Path(f"metrics/breakdown/{policy}.json"), full)
        write_json(Path(f"metrics/{policy}.json"), headline(full))
        write_json(Path(f"metrics/ci/{policy}.json"), headline_intervals(full["intervals"]))
        write_json(Path(f"models/{policy}/lineage.json"), {"cycle": policy, "parent": None if policy == "c0" else f"c{int(policy[1]) - 1}", "method": "dpo"})
        if policy != "c0":
            write_json(Path(f"models/{policy}/adapter_config.json"), {"peft_type": "LORA", "policy": policy})
            Path(f"models/{policy}/adapter_model.safetensors").write_bytes(policy.encode() * 8)
    record = run_select(params)
    assert record["selected"] == "c2"
    assert sorted(p.name for p in Path("models/selected").iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "lineage.json"]
    assert Path("models/selected/adapter_model.safetensors").read_bytes() == b"c2" * 8
    lineage = json.loads(Path("models/selected/lineage.json").read_text())
    assert lineage["cycle"] == "c2" and lineage["selected_from"] == "c2" and lineage["selection"]["validator"] == {"kind": "rules"}
    saved = json.loads(SELECTED_METRICS.read_text())
    assert saved["eval_estimate"]["figures"] == json.loads(Path("metrics/c2.json").read_text())
    assert saved["eval_estimate"]["intervals"] == json.loads(Path("metrics/ci/c2.json").read_text())
    assert "comparisons" in json.loads(SELECTED_DETAILS.read_text())["by_validator"][0]
    # careal export --policy selected: models/base is needed for the tokenizer, so only the
    # clear errors are checked here (tests/test_select_dvc.py exports a real one)
    with pytest.raises(CarealError, match="models/nothing: no policy"):
        export_policy("nothing", tmp_path / "out")
