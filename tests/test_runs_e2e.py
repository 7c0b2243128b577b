"""Two clean `dvc repro` runs of the reduced default (tests/reduced.py) in
separate project copies and processes:

- run A (the session's shared reduced run) runs with every internet socket and host lookup blocked and logged (tests/netguard, in
  DVC's process and every stage's) and with fake API keys planted in the environment: nothing
  may try the network, and no key may appear in any output, log, lineage file or lock file;
- run B is an ordinary run: every DVC output (generations, judgments, preference files,
  adapters, metrics) and dvc.lock must be byte-identical to run A's;
- then stages of B are killed with SIGKILL mid-way (from outside, and at commit points inside),
  under DVC and outside it; `dvc repro` afterwards must bring back exactly run A's bytes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.reduced import CANARY, base_env, copy_reduced_project

OUTPUT_ROOTS = ("data", "models", "metrics")


def run(cmd, cwd, env, ok=True):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if ok and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def output_hashes(project: Path) -> dict[str, str]:
    found = {}
    for root in OUTPUT_ROOTS:
        for path in sorted((project / root).rglob("*")):
            if path.is_file():
                found[path.relative_to(project).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def runs(reduced_run, tmp_path_factory):
    """Run A is the session's shared reduced run (network blocked, keys planted); run B an
    ordinary `dvc repro` of a fresh copy of the code, in another process and folder."""
    b = copy_reduced_project(tmp_path_factory.mktemp("run_b") / "careal")
    run(["dvc", "repro"], b, base_env())
    a = reduced_run
    return {"a": a["project"], "b": b, "log_a": a["log"], "guard_log": a["guard_log"], "env_a": a["env"], "seconds_a": a["seconds"]}


def test_the_default_pipeline_makes_no_network_connection(runs):
    a = runs["a"]
    assert "Running stage 'train@c2'" in runs["log_a"]  # the guard was on for a full run
    assert not runs["guard_log"].exists(), runs["guard_log"].read_text()
    # The guard itself works: the same environment cannot reach anything.
    probe = run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://example.com', timeout=5)"], a, runs["env_a"], ok=False)
    assert probe.returncode != 0 and "network blocked by tests/netguard" in probe.stderr
    assert "example.com" in runs["guard_log"].read_text()
    runs["guard_log"].unlink()


def test_planted_api_keys_appear_in_no_output_log_or_lineage_file(runs):
    a = runs["a"]
    scanned = 0
    for path in a.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(a).parts:
            assert CANARY.encode() not in path.read_bytes(), f"API key leaked into {path.relative_to(a)}"
            scanned += 1
    assert scanned > 30
    assert CANARY not in runs["log_a"]


def test_two_clean_runs_are_byte_identical(runs):
    a, b = output_hashes(runs["a"]), output_hashes(runs["b"])
    kinds = ("generations.jsonl", "judgments.jsonl", "kto.jsonl", "dpo.jsonl", "adapter_model.safetensors", "metrics/c2.json", "answers.jsonl")
    assert all(any(kind in name for name in a) for kind in kinds)
    assert a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert (runs["a"] / "dvc.lock").read_bytes() == (runs["b"] / "dvc.lock").read_bytes()
    print(f"determinism: {len(a)} output files + dvc.lock identical across two runs")


def kill_when(cmd, cwd, env, marker: str, script: str) -> int:
    """Start ``cmd``; when ``marker`` (a regex) matches its stderr, SIGKILL the stage process
    running ``script`` (a child of DVC). Returns DVC's exit status."""
    import re

    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, killed = b"", False
    while True:
        chunk = os.read(process.stderr.fileno(), 256)
        if not chunk:
            break
        seen += chunk
        if not killed and re.search(marker.encode(), seen):
            stages = [c for c in psutil.Process(process.pid).children(recursive=True) if script in " ".join(c.cmdline())]
            assert stages, f"the stage had already finished when {marker!r} appeared"
            for stage in stages:
                stage.send_signal(signal.SIGKILL)
            killed = True
    process.wait()
    assert killed, seen.decode(errors="replace")[-2000:]
    return process.returncode


def old_or_absent(project: Path, expected: dict, *names) -> bool:
    """Each named output (file, or every file of a folder) is absent or still the old bytes."""
    now = output_hashes(project)
    for name in names:
        mine = {k: v for k, v in now.items() if k == name or k.startswith(name + "/")}
        if mine and any(expected.get(k) != v for k, v in mine.items()):
            return False
    return True


def test_killed_stages_recover_to_the_same_bytes(runs):
    a, b = runs["a"], runs["b"]
    expected = output_hashes(a)
    env = base_env()
    kills = []

    # judge@c1 under DVC, killed after its commit journal was written (outputs not yet renamed).
    result = run(["dvc", "repro", "-f", "-s", "judge@c1"], b, {**env, "CAREAL_FAULT_POINT": "judge@c1:journal"}, ok=False)
    assert result.returncode != 0 and (b / ".careal/commits/judge@c1.json").exists()
    assert old_or_absent(b, expected, "data/cycles/c1/judgments.jsonl")
    kills.append("judge@c1 after its commit journal")

    # pair@c1 outside DVC (it first rolls judge@c1's commit forward), killed between renaming
    # kto.jsonl and dpo.jsonl: its journal stays for the next stage run to finish.
    result = run([sys.executable, "-m", "careal.cli", "pair", "-c", "c1"], b, {**env, "CAREAL_FAULT_POINT": "pair@c1:renamed-1"}, ok=False)
    assert result.returncode == -signal.SIGKILL
    assert not (b / ".careal/commits/judge@c1.json").exists() and (b / ".careal/commits/pair@c1.json").exists()
    assert output_hashes(b)["data/cycles/c1/judgments.jsonl"] == expected["data/cycles/c1/judgments.jsonl"]
    kills.append("pair@c1 between its first and second output (outside DVC)")

    # evaluate@c2 under DVC, killed with all three outputs written and none committed.
    result = run(["dvc", "repro", "-f", "-s", "evaluate@c2"], b, {**env, "CAREAL_FAULT_POINT": "evaluate@c2:written"}, ok=False)
    assert result.returncode != 0
    assert old_or_absent(b, expected, "data/eval/c2/answers.jsonl", "data/eval/c2/judgments.jsonl", "metrics/c2.json")
    kills.append("evaluate@c2 with every output written, none committed")

    # train@c2 under DVC, SIGKILL from outside once trl's progress bar starts.
    rc = kill_when(["dvc", "repro", "-f", "-s", "train@c2"], b, env, r"(^|[\r\n])\s*\d+%\|", "stages/train.py")
    assert rc != 0 and old_or_absent(b, expected, "models/c2")
    kills.append("train@c2 mid-training (external SIGKILL)")

    # generate@c1 under DVC, SIGKILL from outside while it samples answers.
    rc = kill_when(["dvc", "repro", "-f", "-s", "generate@c1"], b, env, re_escape("generate@c1 (policy c0)"), "stages/generate.py")
    assert rc != 0 and old_or_absent(b, expected, "data/cycles/c1/generations.jsonl")
    kills.append("generate@c1 mid-generation (external SIGKILL)")

    run(["dvc", "repro"], b, env)
    after = output_hashes(b)
    assert after == expected, {k: (expected.get(k), after.get(k)) for k in set(expected) | set(after) if expected.get(k) != after.get(k)}
    assert (b / "dvc.lock").read_bytes() == (a / "dvc.lock").read_bytes()
    status = run(["dvc", "status"], b, env).stdout.lower()
    assert "up to date" in status, status
    assert not list((b / ".careal/commits").glob("*.json"))
    leftovers = [p for root in OUTPUT_ROOTS for p in (b / root).rglob("*") if p.name.endswith((".careal-tmp", ".careal-old"))]
    assert leftovers == []
    print(f"kill points recovered: {len(kills)}: {kills}")


def re_escape(text: str) -> str:
    import re

    return re.escape(text)
