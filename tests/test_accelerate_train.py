"""train.launcher: accelerate on the CPU: `careal train` runs itself again under `accelerate
launch` with two processes (gloo), each trains its half of every batch, and rank 0 alone
writes a trained adapter whose lineage records the launcher."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from careal.jsonio import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
REFUSAL = "I'm sorry, but I can't help with that. Please talk to a clinician."


def test_accelerate_launcher_trains_on_two_cpu_processes(tiny_project, tmp_path):
    project = tmp_path / "project"
    for part in ("data/prepared", "models/base", "models/c0"):
        shutil.copytree(tiny_project / part, project / part)
    shutil.copytree(ROOT / "configs", project / "configs")
    prompts = read_jsonl(project / "data/prepared/train.jsonl")[:16]
    write_jsonl(project / "data/cycles/c1/dpo.jsonl", [{"id": p["id"], "prompt": p["prompt"], "chosen": REFUSAL, "rejected": f"Sure. {p['base_prompt']} Here is how."} for p in prompts])
    write_jsonl(project / "data/cycles/c1/kto.jsonl", [])
    params = {
        "data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32},
        "bootstrap": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2},
        "model": {"device": "cpu"},
        "train": {"method": "dpo", "batch_size": 4, "max_length": 128, "learning_rate": 5e-3, "lora_target_modules": "q_proj,v_proj",
                  "launcher": "accelerate", "num_processes": 2, "accelerate_config": "ddp"},
        "cycles": {"c1": {"prev": "c0"}},
        "evaluate": {"policies": ["c0", "c1"]},
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREAL_") and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "careal.cli", "train", "-c", "c1"], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "train: accelerate launch, 2 process(es)" in done.stderr
    assert done.stdout.count("train@c1: dpo from c0") == 1  # the relaunching process reports, the ranks stay quiet

    lineage = json.loads((project / "models/c1/lineage.json").read_text())
    assert lineage["launcher"] == {"kind": "accelerate", "num_processes": 2, "config": "ddp"}
    assert lineage["params"]["launcher"] == "accelerate" and lineage["params"]["num_processes"] == 2
    assert lineage["parent"] == "c0" and lineage["base_model"] == "builtin:tiny" and lineage["data"]["rows"] == 16
    assert lineage["steps"] == 4  # 16 pairs, a global batch of 4 (2 per process), one epoch

    from safetensors.torch import load_file

    weights = load_file(project / "models/c1/adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and all(float(t.abs().max()) > 0 for t in lora_b)  # lora_B starts at zero: it trained
    curves = project / "metrics/train/c1/plots/metrics/loss.tsv"
    assert curves.exists()
    # one writer: no leftover temporaries, journals or second copies
    leftovers = [p for p in project.rglob("*") if p.name.endswith((".careal-tmp", ".careal-old"))]
    assert leftovers == [] and not list((project / ".careal" / "commits").glob("*.json"))
    print(f"accelerate train, 2 CPU processes: {took:.1f} s")
