"""`dvc repro` on a reduced embedded default (tests/reduced.py): every stage runs, metrics land,
a second repro is a no-op, changing train.beta reruns only what depends on it, and a new cycle
runs only its own stages."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.reduced import base_env, copy_of, copy_reduced_project, ran_stages, run  # noqa: F401  (re-exported)


@pytest.fixture(scope="module")
def project(reduced_run, tmp_path_factory):
    """A copy of the shared reduced run, and the log of the run that made it."""
    return copy_of(reduced_run, tmp_path_factory.mktemp("e2e") / "careal"), base_env(), reduced_run["log"]


def test_full_repro_then_noop_then_targeted_rerun(project):
    dest, env, first = project
    assert {"prepare", "bootstrap", "evaluate@c0", "generate@c1", "train@c1", "train@c2", "evaluate@c2"} <= ran_stages(first)
    for policy in ("c0", "c1", "c2"):
        metrics = json.loads((dest / f"metrics/{policy}.json").read_text())
        assert metrics["n"] == 32 and 0 <= metrics["safety_score"] <= 1
        breakdown = json.loads((dest / f"metrics/breakdown/{policy}.json").read_text())
        assert set(breakdown["by_harm_level"]) == {"0", "1", "2", "3"}
    assert (dest / "models/c2/adapter_config.json").exists()
    reliability = json.loads((dest / "metrics/judges/details/c1.json").read_text())
    assert reliability["n"] == 64 and reliability["gold"]["source"] == "tiny_styles"
    headline = json.loads((dest / "metrics/judges/c1.json").read_text())
    assert headline["n"] == 64 and headline["agreement"] == reliability["agreement"] and "confusion" not in headline
    assert (dest / "plots/judges/c1.csv").read_text().startswith("id,sample,train_judge,eval_judge\n")
    assert (dest / "data/cycles/c1/kto.jsonl").exists() and (dest / "data/cycles/c1/dpo.jsonl").exists()

    started = time.monotonic()
    second = run(["dvc", "repro"], dest, env)
    assert ran_stages(second) == set()
    assert time.monotonic() - started < 30

    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "first run"], dest, env)
    shown = run(["dvc", "metrics", "show"], dest, env)
    assert "metrics/c1.json" in shown

    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["train"]["beta"] = 0.3
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run(["dvc", "repro"], dest, env)
    rerun = ran_stages(third)
    assert {"train@c1", "evaluate@c1", "generate@c2", "train@c2"} <= rerun
    assert rerun.isdisjoint({"prepare", "bootstrap", "evaluate@c0", "generate@c1", "judge@c1", "pair@c1"})

    diff = run(["dvc", "metrics", "diff", "--all", "HEAD"], dest, env)
    assert "metrics/c1.json" in diff or "metrics/c2.json" in diff

    # Adding a cycle runs only the new cycle's stages.
    params["cycles"]["c3"] = {"prev": "c2"}
    params["evaluate"]["policies"].append("c3")
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    fourth = run(["dvc", "repro"], dest, env)
    # (summarise, the cross-policy plot files, reruns too: it reads every policy's metrics)
    assert ran_stages(fourth) == {"generate@c3", "judge@c3", "pair@c3", "train@c3", "evaluate@c3", "summarise", "judge_reliability@c3", "validation@c3", "select"}
    assert json.loads((dest / "models/c3/lineage.json").read_text())["parent"] == "c2"
