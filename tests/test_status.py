"""careal status's own reading of dvc.yaml / dvc.lock: stage expansion like DVC's foreach, and
file / folder hashes equal to the ones DVC records (checked against a real `dvc repro`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from careal.status import Hasher, expand_stages, format_status, stage_states

ROOT = Path(__file__).resolve().parents[1]


def test_stages_expand_like_dvc_foreach():
    stages = expand_stages(yaml.safe_load((ROOT / "dvc.yaml").read_text()), yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert {"prepare", "bootstrap", "generate@c1", "train@c3", "evaluate@c0", "evaluate@c3", "summarise"} <= set(stages)
    assert "models/c1" in stages["train@c2"]["deps"] and stages["train@c2"]["cmd"] == "python stages/train.py --cycle c2"
    assert stages["evaluate@c2"]["cmd"] == "python stages/evaluate.py --policy c2"


def test_hashes_and_states_match_what_dvc_records(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "code" / "__pycache__").mkdir(parents=True)
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    (tmp_path / "code" / "sub").mkdir()
    (tmp_path / "code" / "sub" / "b.txt").write_bytes(b"\x00\x01 binary\r\n")
    (tmp_path / "code" / "__pycache__" / "a.cpython.pyc").write_bytes(b"bytecode")
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    (tmp_path / "params.yaml").write_text("n: 2\nlr: 0.00005\nsec: {a: 1, b: {c: 2}}\nitems: {x: {v: 1}, y: {v: 2}}\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  make:\n    foreach: ${items}\n    do:\n      cmd: python -c \"open('out_${key}.txt','w').write('${item.v}')\"\n"
        "      deps:\n        - code\n      params:\n        - n\n        - lr\n        - sec.b\n      outs:\n        - out_${key}.txt\n")
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True)
    subprocess.run(["dvc", "repro", "-q"], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert "lr: 5e-05" in (tmp_path / "dvc.lock").read_text()  # YAML 1.2 float, a string to PyYAML
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    hasher = Hasher(tmp_path)
    assert hasher("code") == lock["make@x"]["deps"][0]["md5"]  # __pycache__ left out, as DVC does
    assert hasher("out_y.txt") == lock["make@y"]["outs"][0]["md5"]
    assert {s.name: s.state for s in stage_states(tmp_path)} == {"make@x": "up to date", "make@y": "up to date"}
    assert "nothing to do" in format_status(tmp_path)

    (tmp_path / "code" / "sub" / "b.txt").write_text("changed")
    (tmp_path / "params.yaml").write_text("n: 3\nlr: 0.00005\nsec: {a: 1, b: {c: 5}}\nitems: {x: {v: 1}, y: {v: 2}, z: {v: 3}}\n")
    states = {s.name: s for s in stage_states(tmp_path)}
    assert states["make@x"].state == "changed" and "dep code modified" in states["make@x"].reasons and "param n changed" in states["make@x"].reasons
    assert "param sec.b changed" in states["make@y"].reasons
    assert states["make@z"].state == "not run"
    dvc = subprocess.run(["dvc", "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert set(__import__("json").loads(dvc.stdout)) == {"make@x", "make@y", "make@z"}


def test_outside_a_project_is_one_clear_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from careal.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2 and "params.yaml: not found" in result.output and "Traceback" not in result.output
