"""Does the CPU pin (params.yaml ``cpu``, careal/runtime.py) make `dvc repro` give the same bytes
whatever instruction set the machine offers, and what does it cost?

Runs the reduced embedded default (tests/reduced.py: every stage, two cycles, about a minute)
in fresh copies of the project, four ways, on this machine:

- pinned (``cpu.reproducible: true``, the default), the machine as it is;
- pinned, with the machine capped from outside at AVX2 (torch, MKL and oneDNN: what an
  AVX2-only x86 machine offers);
- unpinned (``cpu.reproducible: false``), the machine as it is;
- unpinned, capped at AVX2.

and compares every output hash of dvc.lock, and the wall times. On an AVX-512 machine the two
unpinned runs differ (so the comparison can fail) and the pinned ones must not.

    python benchmarks/cpu_numerics.py [--out benchmarks/results/cpu_numerics.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reduced import base_env, copy_reduced_project, run  # noqa: E402

AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
CPU_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
RUNS = {
    "pinned": (True, {}),
    "pinned, AVX2 machine": (True, AVX2_MACHINE),
    "unpinned": (False, {}),
    "unpinned, AVX2 machine": (False, AVX2_MACHINE),
}


def outputs(lock_path: Path) -> dict[str, str]:
    stages = yaml.safe_load(lock_path.read_text())["stages"]
    return {o["path"]: o["md5"] for stage in stages.values() for o in stage.get("outs", [])}


def one_run(work: Path, reproducible: bool, outside: dict) -> tuple[dict[str, str], float, float]:
    project = copy_reduced_project(work)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["cpu"] = {**params.get("cpu", {}), "reproducible": reproducible}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in base_env().items() if k not in CPU_VARIABLES}
    env.update(outside)
    started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run(["dvc", "repro"], project, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return outputs(project / "dvc.lock"), time.monotonic() - started, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpu_numerics.json")
    parser.add_argument("--cost-repeats", type=int, default=2, help="extra pinned / unpinned pairs, alternating, for the cost")
    args = parser.parse_args()
    import torch

    results, hashes = {}, {}
    with tempfile.TemporaryDirectory(prefix="careal-cpu-") as tmp:
        for number, (name, (reproducible, outside)) in enumerate(RUNS.items()):
            work = Path(tmp) / f"run{number}"
            work.mkdir()
            hashes[name], seconds, cpu = one_run(work, reproducible, outside)
            results[name] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "outputs": len(hashes[name])}
            print(f"{name:24s} {seconds:6.1f} s wall {cpu:6.1f} s CPU", flush=True)
        # The cost: more pinned / unpinned pairs, alternating, so that a change of load on a shared
        # machine falls on both; CPU seconds (user + system of every stage) besides wall time.
        cost = {"pinned": [(results["pinned"]["seconds"], results["pinned"]["cpu_seconds"])], "unpinned": [(results["unpinned"]["seconds"], results["unpinned"]["cpu_seconds"])]}
        for repeat in range(args.cost_repeats):
            for name, reproducible in (("pinned", True), ("unpinned", False)):
                work = Path(tmp) / f"cost{repeat}-{name}"
                work.mkdir()
                _, seconds, cpu = one_run(work, reproducible, {})
                cost[name].append((round(seconds, 1), round(cpu, 1)))
                print(f"cost run {name:10s} {seconds:6.1f} s wall {cpu:6.1f} s CPU", flush=True)

    def same(a: str, b: str) -> dict:
        differing = sorted(p for p in hashes[a] if hashes[a][p] != hashes[b].get(p))
        return {"identical": not differing, "differing_outputs": differing}

    summary = {
        "machine_capability": torch.backends.cpu.get_cpu_capability(),
        "runs": results,
        "pinned vs pinned on an AVX2 machine": same("pinned", "pinned, AVX2 machine"),
        "pinned vs unpinned AVX2 machine": same("pinned", "unpinned, AVX2 machine"),
        "unpinned vs unpinned AVX2 machine": same("unpinned", "unpinned, AVX2 machine"),
        "cost runs (wall s, CPU s)": cost,
        "median wall pinned / unpinned": round(statistics.median(w for w, _ in cost["pinned"]) / statistics.median(w for w, _ in cost["unpinned"]), 3),
        "median CPU pinned / unpinned": round(statistics.median(c for _, c in cost["pinned"]) / statistics.median(c for _, c in cost["unpinned"]), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for key, value in summary.items():
        if key not in ("runs", "cost runs (wall s, CPU s)"):
            print(f"{key}: {value if not isinstance(value, dict) else (value['identical'], len(value['differing_outputs']))}")


if __name__ == "__main__":
    main()
