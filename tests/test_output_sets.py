"""A stage's outputs form one set: SIGKILL at every point of a three-output write (two files and
a folder, as pair and train write them) leaves all old outputs, or a journal whose roll-forward
gives all new ones; never a mix, never a half-written file in place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from careal import outputs
from careal.jsonio import read_jsonl, write_json, write_jsonl

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys
from careal.jsonio import atomic_dir, read_jsonl, write_json, write_jsonl
from careal.outputs import output_set

version = sys.argv[1]
with output_set("demo@c1"):
    write_jsonl("data/cycles/c1/kto.jsonl", [{"v": version, "row": i} for i in range(3)])
    assert read_jsonl("data/cycles/c1/kto.jsonl")[0]["v"] == version  # reads its own pending file
    write_jsonl("data/cycles/c1/dpo.jsonl", [{"v": version}])
    with atomic_dir("models/c1") as tmp:
        write_json(tmp / "lineage.json", {"v": version})
"""

POINTS = ["start", "written", "journal", "renamed-1", "renamed-2", "renamed-3"]


def versions(project: Path) -> set:
    found = set()
    for name in ("data/cycles/c1/kto.jsonl", "data/cycles/c1/dpo.jsonl"):
        path = project / name
        found.add(json.loads(path.read_text().splitlines()[0])["v"] if path.exists() else None)
    lineage = project / "models/c1/lineage.json"
    found.add(json.loads(lineage.read_text())["v"] if lineage.exists() else None)
    return found


def write(project: Path, version: str, fault: str | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(outputs.FAULT_ENV, None)
    if fault:
        env[outputs.FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-c", WRITER, version], cwd=project, env=env).returncode


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_any_point_leaves_the_old_set_or_a_journal_for_the_new_one(tmp_path, point, monkeypatch):
    assert write(tmp_path, "old") == 0
    assert versions(tmp_path) == {"old"}
    assert write(tmp_path, "new", fault=f"demo@c1:{point}") == -signal.SIGKILL
    journal = tmp_path / outputs.JOURNAL_DIR / "demo@c1.json"
    if point in ("start", "written"):
        assert versions(tmp_path) == {"old"} and not journal.exists()
    else:
        assert journal.exists()  # commit under way: the next stage run finishes it
    monkeypatch.chdir(tmp_path)
    done = outputs.recover()
    expected = "old" if point in ("start", "written") else "new"
    assert versions(tmp_path) == {expected}
    assert done["rolled_forward"] == (expected == "new")
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((outputs.TMP_SUFFIX, outputs.TRASH_SUFFIX))]
    assert leftovers == [] and not journal.exists()
    assert write(tmp_path, "again") == 0 and versions(tmp_path) == {"again"}


def test_an_error_inside_the_set_leaves_the_old_outputs_and_no_temporaries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_jsonl("a.jsonl", [{"v": 1}])
    with pytest.raises(RuntimeError):
        with outputs.output_set("demo"):
            write_jsonl("a.jsonl", [{"v": 2}])
            write_json("b.json", {"v": 2})
            raise RuntimeError("stage failed")
    assert read_jsonl("a.jsonl") == [{"v": 1}] and not Path("b.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"] or sorted(p.name for p in tmp_path.iterdir()) == [".careal", "a.jsonl"]


def test_live_processes_temporaries_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    live = outputs.temp_sibling(Path("data/x.jsonl"), directory=False)  # this process: alive
    dead = Path(f"data/.x.jsonl.{2**22 + 7}.abc{outputs.TMP_SUFFIX}")  # pid above pid_max: gone
    dead.write_text("partial")
    assert outputs.recover()["removed"] == 1
    assert live.exists() and not dead.exists()
