"""``careal sweep``: the same params over several seeds, as DVC experiments, read with their spread.

One experiment per seed is queued (``dvc exp run --queue -f -S seed=N [-S key=value ...] -n
<name>-sN``), the queue runs (``dvc queue start -j <jobs>``, followed until those experiments
are done), and each experiment's metrics are read back from its experiment commit
(``refs/exps/...``: metrics/cK.json and metrics/breakdown/cK.json, which are committed with
it). ``careal.metrics.seeds`` then gives the mean, spread and the bar per policy.

Each queued experiment runs in its own copy of the workspace (params.yaml as it is, plus the
``-S`` values), so the workspace is left as it was; DVC's run cache lets the experiments of
one seed share the stages they have in common (prepare and bootstrap across methods). Running
a sweep again under the same name replaces its experiments (``-f``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import sys
import time

import yaml

from careal.errors import CarealError

POLL_SECONDS = 10
STALLED_POLLS = 3  # polls in a row with our experiments queued, nothing running and no worker
MAX_RESTARTS = 3


def experiment_name(name: str, seed: int) -> str:
    return f"{name}-s{seed}"


def _run(cmd: list[str], check: bool = True) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise CarealError(f"`{' '.join(cmd)}` failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def _start(cmd: list[str]) -> None:
    """Run a command that leaves daemons behind (``dvc queue start`` forks its workers and
    returns). Its output goes to a temporary file, not a pipe: the workers inherit the parent's
    output, and reading a pipe to its end would wait for as long as a worker lives."""
    with tempfile.TemporaryFile(mode="w+") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            out.seek(0)
            raise CarealError(f"`{' '.join(cmd)}` failed ({result.returncode}): {out.read().strip()[-2000:]}")


def parse_queue_status(text: str) -> tuple[dict[str, tuple[str, str]], int | None]:
    """``dvc queue status`` output -> (task id -> (experiment name, status), number of live
    workers, active plus idle; None where the worker line is missing)."""
    tasks, workers = {}, None
    for line in text.splitlines():
        if line.startswith("Worker status:"):
            counts = [int(word) for word in line.replace(",", " ").split() if word.isdigit()]
            workers = sum(counts) if counts else None
            continue
        parts = line.split()
        if len(parts) >= 4 and parts[0] != "Task":
            tasks[parts[0]] = (parts[1], parts[-1])
    return tasks, workers


def start_workers(count: int) -> None:
    """``dvc queue start -j count``: DVC starts the workers of that count that are not running."""
    _start(["dvc", "queue", "start", "-j", str(count)])


def queue_status() -> dict[str, tuple[str, str]]:
    """Task id -> (experiment name, status) from ``dvc queue status``."""
    return parse_queue_status(_run(["dvc", "queue", "status"]))[0]


def queue_experiments(name: str, seeds: list[int], sets: list[str]) -> list[str]:
    """Queue one experiment per seed; returns the new tasks' ids."""
    before = set(queue_status())
    for seed in seeds:
        cmd = ["dvc", "exp", "run", "--queue", "-f", "-S", f"seed={seed}"]
        for value in sets:
            cmd += ["-S", value]
        _run(cmd + ["-n", experiment_name(name, seed)])
    return [task for task in queue_status() if task not in before]


def run_queue(tasks: list[str], jobs: int, echo=print) -> None:
    """Start the queue's workers and wait until ``tasks`` have finished; stop on a failure.

    A worker leaves once it finds the queue empty, and dvc-task reads its broker's message
    files while they are written, so a worker can leave with an experiment still queued (seen
    here: two workers left after their first experiments, the third stayed queued with no one
    to run it). When ``tasks`` still has queued experiments, nothing runs and no worker is
    alive for ``STALLED_POLLS`` polls in a row, the workers are started again (DVC starts only
    those that are missing), at most ``MAX_RESTARTS`` times. Then, if nothing else is queued or
    running, the idle workers are told to stop: a worker whose idle monitor has died would
    otherwise stay for good."""
    start_workers(jobs)
    shown: dict[str, str] = {}
    stalled = restarts = 0
    while True:
        everything, workers = parse_queue_status(_run(["dvc", "queue", "status"]))
        status = {task: entry for task, entry in everything.items() if task in tasks}
        for task, (exp, state) in sorted(status.items(), key=lambda item: item[1][0]):
            if shown.get(task) != state:
                echo(f"sweep: {exp} {state.lower()}")
                shown[task] = state
        if status and all(state not in ("Queued", "Running") for _, state in status.values()):
            break
        queued = [exp for exp, state in status.values() if state == "Queued"]
        running = any(state == "Running" for _, state in everything.values())
        stalled = stalled + 1 if queued and not running and workers == 0 else 0
        if stalled >= STALLED_POLLS:
            if restarts == MAX_RESTARTS:
                raise CarealError(f"sweep: the queue's workers stopped {restarts + 1} times with {', '.join(queued)} still queued; "
                                  f"see `dvc queue logs`, then `dvc queue start -j {jobs}` and `careal sweep --no-run`")
            echo(f"sweep: no queue worker is left and {', '.join(queued)} still queued; starting the workers again")
            start_workers(min(jobs, len(queued)))
            restarts += 1
            stalled = 0
        time.sleep(POLL_SECONDS)
    if all(state not in ("Queued", "Running") for _, state in queue_status().values()):
        _run(["dvc", "queue", "stop"], check=False)
    failed = [exp for exp, state in status.values() if state != "Success"]
    if failed:
        raise CarealError(f"sweep: experiment(s) {', '.join(failed)} failed; see `dvc queue logs {failed[0]}`")


def experiment_revs(names: list[str]) -> dict[str, str]:
    """Experiment name -> the commit of its newest experiment ref (``refs/exps/.../<name>``)."""
    out = _run(["git", "for-each-ref", "--sort=-committerdate", "--format=%(refname) %(objectname)", "refs/exps/"])
    revs: dict[str, str] = {}
    for line in out.splitlines():
        ref, _, sha = line.partition(" ")
        exp = ref.rsplit("/", 1)[-1]
        if exp in names and exp not in revs:
            revs[exp] = sha
    return revs


def _show(rev: str, path: str):
    result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def read_experiment(rev: str) -> tuple[dict, dict[str, dict]]:
    """(params, policy -> record) of one experiment commit: each record is the policy's headline
    metrics (metrics/cK.json) with its ``by_method`` breakdown, ``fluency_counts`` and, where
    the run has them, its 95% intervals (metrics/ci/cK.json) under ``ci``."""
    params = yaml.safe_load(_show(rev, "params.yaml") or "{}") or {}
    policies = (params.get("evaluate") or {}).get("policies") or []
    records = {}
    for policy in policies:
        headline = _show(rev, f"metrics/{policy}.json")
        if headline is None:
            continue
        record = json.loads(headline)
        intervals = _show(rev, f"metrics/ci/{policy}.json")
        if intervals is not None:
            record["ci"] = json.loads(intervals)
        breakdown = _show(rev, f"metrics/breakdown/{policy}.json")
        if breakdown is not None:
            full = json.loads(breakdown)
            record["by_method"] = {m: {"discrimination": g.get("discrimination")} for m, g in full.get("by_method", {}).items()}
            if "fluency_counts" in full:
                record["fluency_counts"] = full["fluency_counts"]
        records[policy] = record
    return params, records


def collect(name: str, seeds: list[int]) -> dict:
    """Each seed's experiment of sweep ``name``: ``{"name", "runs": {seed: {policy: record}},
    "revs": {seed: commit}, "params": {seed: params}}``."""
    names = [experiment_name(name, seed) for seed in seeds]
    revs = experiment_revs(names)
    missing = [n for n in names if n not in revs]
    if missing:
        raise CarealError(f"sweep: no experiment named {', '.join(missing)} (run `careal sweep` without --no-run first)")
    runs, params = {}, {}
    for seed in seeds:
        params[seed], runs[seed] = read_experiment(revs[experiment_name(name, seed)])
    return {"name": name, "runs": runs, "revs": {s: revs[experiment_name(name, s)] for s in seeds}, "params": params}


def sweep_result(collected: dict, sets: list[str]) -> dict:
    """The JSON ``careal sweep --json`` writes: settings, per-seed records, aggregate, bar."""
    from careal.metrics.seeds import aggregate, read_bar

    summary = aggregate(collected["runs"])
    reading = read_bar(summary)
    return {
        "name": collected["name"],
        "set": list(sets),
        "seeds": summary["seeds"],
        "revs": {str(s): r for s, r in collected["revs"].items()},
        "runs": {str(s): r for s, r in collected["runs"].items()},
        "summary": {**summary, "stats": {p: {k: {**v, "values": {str(s): x for s, x in v["values"].items()}} for k, v in m.items()} for p, m in summary["stats"].items()}},
        "bar": {**reading, "seeds": {str(s): c for s, c in reading["seeds"].items()}},
    }


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise CarealError(f"--seeds {text!r}: give whole numbers separated by commas, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise CarealError(f"--seeds {text!r}: give distinct whole numbers >= 0, e.g. 0,1,2")
    return seeds


def check_sets(sets: list[str]) -> None:
    for value in sets:
        key = value.split("=", 1)[0]
        if "=" not in value or not key:
            raise CarealError(f"-S {value!r}: give key=value, e.g. -S train.method=kto")
        if key == "seed":
            raise CarealError("-S seed=...: the sweep sets the seed itself (--seeds)")


def echo_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
