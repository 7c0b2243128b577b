"""The select stage on the reduced run (tests/reduced.py): its outputs, a second validator that
reruns only the validation and select stages, the registry entry policy-selected fetched with
`dvc artifacts get` from another repository through a local DVC remote, and `careal export
--policy selected`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from tests.reduced import base_env, copy_of, ran_stages, run

CAREAL = [sys.executable, "-m", "careal.cli"]


def test_the_reduced_run_selects_a_policy_on_its_validation_split(reduced_run):
    project = reduced_run["project"]
    summary = json.loads((project / "data/prepared/summary.json").read_text())
    assert summary["validation"]["rows"] == 32 and summary["leak_guard"]["validation_base_prompts_shared"] == {"train": 0, "eval": 0}
    assert {"validation@c0", "validation@c1", "validation@c2", "select"} <= ran_stages(reduced_run["log"])
    record = json.loads((project / "metrics/selected.json").read_text())
    assert record["selected"] in ("c0", "c1", "c2") and set(record["candidates"]) == {"c0", "c1", "c2"}
    assert record["validator"] == {"kind": "rules"} and record["rule"]["min_fluency_ratio"] == 0.95
    assert record["validation"]["prompts"] == 32
    estimate = record["eval_estimate"]
    assert estimate["policy"] == record["selected"]
    assert estimate["figures"] == json.loads((project / f"metrics/{record['selected']}.json").read_text())
    assert estimate["intervals"] == json.loads((project / f"metrics/ci/{record['selected']}.json").read_text())
    lineage = json.loads((project / "models/selected/lineage.json").read_text())
    assert lineage["selected_from"] == record["selected"] and lineage["selection"]["source"] == f"models/{record['selected']}"


def test_a_second_validator_reruns_only_validation_and_select_and_the_artifact_is_fetched_from_a_clone(reduced_run, tmp_path):
    dest = copy_of(reduced_run, tmp_path / "project")
    env = base_env()
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["select"]["other_validators"] = [{"kind": "self"}]
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = run(["dvc", "repro"], dest, env)
    # judge_train too: it trains the classifier judge when a validator is one (a marker here, the same bytes, so nothing after it reruns)
    assert ran_stages(log) == {"judge_train", "validation@c0", "validation@c1", "validation@c2", "select"}
    record = json.loads((dest / "metrics/selected.json").read_text())
    assert [(v["where"], v["name"]) for v in record["by_validator"]] == [("judge.select", "rules"), ("select.other_validators[0]", "self")]
    assert all(v["selected"] in ("c0", "c1", "c2") for v in record["by_validator"])
    assert record["validators_agree"] == (record["by_validator"][0]["selected"] == record["by_validator"][1]["selected"])
    assert (dest / "data/validation/c1/judgments-1.jsonl").exists()

    # the registry: push to a local remote, promote (a person tags a version; dvc repro never
    # does), then fetch policy-selected by name from a clone
    store = tmp_path / "remote"
    run(["dvc", "remote", "add", "-f", "-d", "local", str(store)], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "select with two validators"], dest, env)
    run(["dvc", "push"], dest, env)
    run(["git", "tag", "-a", "policy-selected@v0.1.0", "-m", "policy-selected v0.1.0"], dest, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(dest), str(clone)], tmp_path, env)
    fetched = tmp_path / "fetched"
    run(["dvc", "artifacts", "get", str(clone), "policy-selected", "-o", str(fetched)], tmp_path, env)
    files = sorted(p.name for p in (dest / "models/selected").iterdir())
    assert sorted(p.name for p in fetched.iterdir()) == files and "lineage.json" in files
    assert json.loads((fetched / "lineage.json").read_text())["selected_from"] == record["selected"]
    if record["selected"] != "c0":
        assert "adapter_model.safetensors" in files

    out = run([*CAREAL, "export", "--policy", "selected", str(tmp_path / "exported")], dest, env)
    assert "export: selected ->" in out
    exported = json.loads((tmp_path / "exported" / "lineage.json").read_text())
    assert exported["selected_from"] == record["selected"] and exported["export"]["policy"] == "selected"
