"""`dvc repro` on a reduced embedded default, in a temporary copy of the repo: every stage
runs, metrics land, a second repro is a no-op, and changing train.beta reruns only what
depends on it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REDUCED = {
    "data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32},
    "bootstrap": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2, "sft_repeats": 2, "sft_epochs": 8, "sft_batch_size": 16},
    "generate": {"samples": 2, "max_new_tokens": 16, "batch_size": 32},
    "train": {"batch_size": 8, "max_length": 128},
    "evaluate": {"policies": ["c0", "c1", "c2"], "max_new_tokens": 16, "batch_size": 32},
    "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}},
}


def run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def copy_reduced_project(dest: Path) -> Path:
    """A copy of the repo's code (no data, models, metrics or dvc.lock) with REDUCED params and
    KTO (the reduced policy's samples tie too often for DPO pairs)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("data/", "models/", "metrics/")) or not (ROOT / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for section, values in REDUCED.items():
        params[section] = values if section == "cycles" else {**params[section], **values}
    params["train"]["method"] = "kto"
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dest / "dvc.lock").unlink(missing_ok=True)
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = copy_reduced_project(tmp_path_factory.mktemp("e2e") / "careal")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "careal-test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "careal-test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    run(["git", "init", "-q"], dest, env)
    return dest, env


def test_full_repro_then_noop_then_targeted_rerun(project):
    dest, env = project
    first = run(["dvc", "repro"], dest, env)
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
    assert ran_stages(fourth) == {"generate@c3", "judge@c3", "pair@c3", "train@c3", "evaluate@c3", "summarise", "judge_reliability@c3"}
    assert json.loads((dest / "models/c3/lineage.json").read_text())["parent"] == "c2"
