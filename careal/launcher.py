"""Multi-process training: ``train.launcher`` / ``judge_train.launcher``.

- ``python`` (default): the stage trains in its own process, as always.
- ``accelerate``: the ``careal train`` (or ``judge-train``) command runs itself again under
  ``accelerate launch --config_file <config> --num_processes <N> -m careal.cli ...``, with
  ``CAREAL_LAUNCHED`` set so the relaunched processes do not relaunch again. Each process
  trains its share of every batch (DDP, FSDP or DeepSpeed, as the config says); only rank 0
  writes the stage's outputs (its output set, careal/outputs.py), after the adapter's state
  has been gathered from every rank. ``train.batch_size`` stays the global batch: each
  process takes ``batch_size / num_processes`` rows of it, so the rows of each optimiser step
  are the same as with one process.

Configs live in ``configs/accelerate/`` (``ddp.yaml``, ``fsdp.yaml`` for an 8B base,
``deepspeed_zero3.yaml``); ``accelerate_config`` names one of them or any accelerate config
file. On a machine without GPUs, ``ddp`` runs the processes on the CPU with gloo (the test
does that with two processes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from careal.errors import CarealError
from careal.policy.distributed import world_size

LAUNCHED_ENV = "CAREAL_LAUNCHED"
CONFIG_DIR = Path("configs") / "accelerate"

def config_path(name: str, where: str) -> Path:
    """``configs/accelerate/<name>.yaml`` for a bare name, else the file itself."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml", ".json"):
        path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))) or "none here"
        raise CarealError(f"params.yaml: {where}.accelerate_config {name!r}: no file {path} (the configs in {CONFIG_DIR}: {known}; or give a path to an accelerate config file)")
    return path


def launch_info(section) -> dict:
    """What lineage.json records about how the stage trained."""
    info = {"kind": section.launcher, "num_processes": world_size() if os.environ.get(LAUNCHED_ENV) else 1}
    if section.launcher == "accelerate":
        info["config"] = section.accelerate_config
    return info


def relaunch_under_accelerate(section, where: str, command: list[str]) -> int | None:
    """Run ``careal <command>`` again under ``accelerate launch`` when ``section.launcher`` is
    ``accelerate`` and this process is not already one it launched: returns the exit status
    (the caller exits with it), or None when this process should train itself."""
    if section.launcher != "accelerate" or os.environ.get(LAUNCHED_ENV):
        return None
    config = config_path(section.accelerate_config, where)
    argv = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(config),
        "--num_processes", str(section.num_processes),
        "-m", "careal.cli", *command,
    ]
    env = {**os.environ, LAUNCHED_ENV: "accelerate"}
    print(f"{where}: accelerate launch, {section.num_processes} process(es), config {config}", file=sys.stderr, flush=True)
    return subprocess.run(argv, env=env).returncode
