"""The reduced embedded default that the end-to-end tests share.

`dvc repro` of the reduced project takes most of a minute on two cores, and four test modules
need a finished run. ``reduced_run`` (a session fixture in conftest.py) makes it once, as "run A":
every internet socket and host lookup blocked and logged (tests/netguard, in DVC's process and
every stage's) and fake API keys planted in the environment. Tests that only read it use it as
is; tests that change a project work on ``copy_of(run)``, a byte copy (DVC cache included) in
their own folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REDUCED = {
    "data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32, "validation_size": 32},
    "bootstrap": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2, "sft_repeats": 2, "sft_epochs": 8, "sft_batch_size": 16},
    "generate": {"samples": 2, "max_new_tokens": 16, "batch_size": 32},
    "train": {"batch_size": 8, "max_length": 128},
    "evaluate": {"policies": ["c0", "c1", "c2"], "max_new_tokens": 16, "batch_size": 32},
    "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}},
}
CANARY = f"sk-careal-canary-{uuid.uuid4().hex}"
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CAREAL_JUDGE_API_KEY")
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "careal-test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
                "GIT_COMMITTER_NAME": "careal-test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}


def run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def ran_stages(output: str) -> set[str]:
    import re

    return set(re.findall(r"Running stage '([^']+)'", output))


def base_env() -> dict:
    """The test process's environment without API keys or CAREAL_* settings, with this
    interpreter's scripts (dvc) first on PATH and the repo's code importable."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS and not k.startswith("CAREAL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **GIT_IDENTITY}


def copy_reduced_project(dest: Path) -> Path:
    """A copy of the repo's code (no data, models, metrics or dvc.lock) with REDUCED params and
    KTO (the reduced policy's samples tie too often for DPO pairs), in a new git repository."""
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
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    return dest


def make_reduced_run(dest: Path) -> dict:
    """Run A: `dvc repro` of a fresh reduced project with the network blocked and fake keys set."""
    project = copy_reduced_project(dest)
    guard_log = project.parent / "netguard.log"
    env = {**base_env(), "PYTHONPATH": f"{ROOT / 'tests' / 'netguard'}{os.pathsep}{ROOT}", "CAREAL_NETGUARD_LOG": str(guard_log)}
    env.update({var: CANARY for var in KEY_VARS})
    started = time.monotonic()
    log = run(["dvc", "repro"], project, env)
    return {"project": project, "log": log, "guard_log": guard_log, "env": env, "seconds": time.monotonic() - started}


def copy_of(reduced_run: dict, dest: Path) -> Path:
    """A byte copy of run A's project (git repository, DVC cache and outputs) at ``dest``."""
    source = reduced_run["project"]

    def dvc_tmp(folder: str, names: list[str]) -> list[str]:  # DVC's state and locks stay behind
        return ["tmp"] if Path(folder) == source / ".dvc" else []

    shutil.copytree(source, dest, symlinks=True, ignore=dvc_tmp)
    return dest
