"""careal sweep: the aggregation over seeds and the bar (careal/metrics/seeds.py), reading
experiments back from their commits, and the queue handling (careal/sweep.py), without DVC runs."""

import json
import subprocess
import time

import pytest
import yaml

from careal.errors import CarealError
from careal.metrics.seeds import Bar, aggregate, format_sweep, read_bar
from careal import sweep


def record(safety, harmful, erroneous, fluency, methods):
    return {"safety_score": safety, "harmful_refusal_rate": harmful, "erroneous_refusal_rate": erroneous,
            "discrimination": harmful - erroneous, "fluency": fluency,
            "by_method": {m: {"discrimination": d} for m, d in methods.items()}}


RUNS = {
    0: {"c0": record(0.40, 0.45, 0.45, 1.00, {"direct": 0.1, "role_play": 0.0}), "c1": record(0.80, 0.90, 0.30, 0.97, {"direct": 0.6, "role_play": 0.5})},
    1: {"c0": record(0.50, 0.50, 0.30, 0.99, {"direct": 0.4, "role_play": 0.1}), "c1": record(0.85, 0.95, 0.25, 0.96, {"direct": 0.7, "role_play": 0.6})},
    2: {"c0": record(0.42, 0.40, 0.20, 1.00, {"direct": 0.5, "role_play": 0.3}), "c1": record(0.61, 0.70, 0.35, 0.95, {"direct": 0.4, "role_play": 0.2})},
}


def test_aggregate_mean_spread_and_methods():
    summary = aggregate(RUNS)
    assert summary["seeds"] == [0, 1, 2] and summary["policies"] == ["c0", "c1"]
    s = summary["stats"]["c1"]["safety_score"]
    mean = (0.80 + 0.85 + 0.61) / 3
    assert s["mean"] == pytest.approx(mean) and s["min"] == 0.61 and s["max"] == 0.85
    assert s["std"] == pytest.approx((sum((v - mean) ** 2 for v in (0.80, 0.85, 0.61)) / 2) ** 0.5)
    assert s["values"] == {0: 0.80, 1: 0.85, 2: 0.61}
    assert summary["stats"]["c0"]["discrimination/direct"]["mean"] == pytest.approx(1.0 / 3)
    # a seed without a policy (fewer cycles) is left out of that policy's figures, not zero
    partial = aggregate({**RUNS, 3: {"c0": RUNS[0]["c0"]}})
    assert partial["stats"]["c1"]["safety_score"]["values"].keys() == {0, 1, 2}
    assert set(partial["stats"]["c0"]["safety_score"]["values"]) == {0, 1, 2, 3}


def test_bar_on_the_mean_and_on_every_seed():
    reading = read_bar(aggregate(RUNS))
    checks = {c["check"]: c["met"] for c in reading["mean"]}
    # mean c1 safety 0.753 (>= 0.75); harmful 0.45 -> 0.85 (x1.89); erroneous 0.317 -> 0.300;
    # direct 0.333 -> 0.567, role play 0.133 -> 0.433; fluency 0.997 -> 0.960 (x0.963)
    assert checks == {"safety": True, "harmful_refusal": True, "erroneous_refusal": True, "discrimination_by_method": True, "fluency": True}
    assert all(c["met"] for c in reading["seeds"][0] + reading["seeds"][1])
    assert [c["met"] for c in reading["seeds"][2]] == [True, True]
    assert reading["met"]
    stricter = read_bar(aggregate(RUNS), bar=Bar(safety_at_least=0.8, fluency_ratio=0.97))
    assert {c["check"]: c["met"] for c in stricter["mean"]}["safety"] is False and not stricter["met"]
    worse = {**RUNS, 2: {"c0": RUNS[2]["c0"], "c1": record(0.41, 0.60, 0.50, 0.80, {"direct": -0.5, "role_play": 0.2})}}
    bad = read_bar(aggregate(worse))
    assert [c["met"] for c in bad["seeds"][2]] == [False, False] and not bad["met"]
    assert {c["check"]: c["met"] for c in bad["mean"]}["discrimination_by_method"] is False  # direct 0.333 -> 0.267


def test_format_sweep_prints_mean_range_sd_and_bar():
    summary = aggregate(RUNS)
    text = format_sweep(summary, read_bar(summary), title="sweep dpo")
    lines = text.splitlines()
    assert lines[0] == "sweep dpo: mean (min..max) over seeds 0, 1, 2"
    assert "safety" in lines[1] and "fluency" in lines[1]
    c1 = next(line for line in lines if line.startswith("c1 "))
    assert "0.753 (0.610..0.850)" in c1 and "+0.550 (+0.350..+0.700)" in c1
    assert "standard deviation over the seeds" in text
    assert "met      seed 2: Safety Score 0.420 -> 0.610 (up)" in text
    assert lines[-1] == "bar met"


def test_format_sweep_shows_the_spread_over_seeds_beside_the_within_run_error():
    """With each run's 95% intervals (metrics/ci), the spread table puts the standard deviation
    over seeds beside the within-run standard error, and says which dominates."""
    def with_ci(record, half):
        return {**record, "ci": {k: {"value": record[k], "lo": record[k] - half, "hi": record[k] + half} for k in ("safety_score", "harmful_refusal_rate", "erroneous_refusal_rate", "discrimination", "fluency")}}

    runs = {seed: {p: with_ci(r, 0.0392) for p, r in policies.items()} for seed, policies in RUNS.items()}
    summary = aggregate(runs)
    assert summary["stats"]["c1"]["safety_score"]["within_run_se"] == pytest.approx(0.02)
    text = format_sweep(summary)
    assert "standard deviation over the seeds | within one run, the standard error" in text
    c1 = [line for line in text.splitlines() if line.startswith("c1 ")][1]
    assert f"{summary['stats']['c1']['safety_score']['std']:.3f} | 0.020" in c1
    # c1's safety varies 0.61..0.85 over seeds (sd 0.13) against a within-run error of 0.02;
    # its fluency 0.95..0.97 (sd 0.010) stays below it
    assert "c1: the seed's draw dominates for safety, harmful refusal, erroneous refusal, discrimination; the eval prompts' draw for fluency" in text


def git(cwd, *args, date="2026-01-01T00:00:00"):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_COMMITTER_DATE": date, "PATH": "/usr/bin:/bin"}).stdout.strip()


def test_collect_reads_each_seeds_experiment_commit(tmp_path, monkeypatch):
    """Experiments are commits under refs/exps/ (as `dvc exp run` leaves them), holding
    params.yaml, metrics/cK.json and metrics/breakdown/cK.json; the newest of a name wins."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    for seed, records in RUNS.items():
        for version in (0, 1):  # an older experiment of the same name, then the newer one
            (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": seed, "evaluate": {"policies": ["c0", "c1"]}}))
            (tmp_path / "metrics/breakdown").mkdir(parents=True, exist_ok=True)
            for policy, r in records.items():
                headline = {k: v for k, v in r.items() if k != "by_method"}
                if version == 0:
                    headline = {**headline, "safety_score": 0.0}
                (tmp_path / f"metrics/{policy}.json").write_text(json.dumps(headline))
                (tmp_path / f"metrics/breakdown/{policy}.json").write_text(json.dumps({**headline, "by_method": r["by_method"], "fluency_counts": {"n": 4}}))
            git(tmp_path, "add", "-A")
            tree = git(tmp_path, "write-tree")
            # committer dates order the versions (dvc keeps one ref per name; older refs may linger)
            commit = git(tmp_path, "commit-tree", tree, "-m", f"exp {seed} v{version}", date=f"2026-01-0{2 + version}T00:00:00")
            git(tmp_path, "update-ref", f"refs/exps/ab/cde{version}/dpo-s{seed}", commit)
    monkeypatch.chdir(tmp_path)
    collected = sweep.collect("dpo", [0, 1, 2])
    assert collected["params"][1]["seed"] == 1
    assert collected["runs"][2]["c1"]["safety_score"] == 0.61  # the newer experiment
    assert collected["runs"][0]["c0"]["by_method"] == {"direct": {"discrimination": 0.1}, "role_play": {"discrimination": 0.0}}
    result = sweep.sweep_result(collected, ["train.method=dpo"])
    assert result["summary"]["stats"]["c1"]["safety_score"]["mean"] == pytest.approx(0.7533, abs=1e-4)
    assert result["bar"]["met"] is True and set(result["bar"]["seeds"]) == {"0", "1", "2"}
    json.dumps(result)  # --json writes it as is
    with pytest.raises(CarealError, match="no experiment named kto-s0"):
        sweep.collect("kto", [0])


def test_queue_and_wait(monkeypatch):
    """The commands a sweep runs, and its wait on the queue (dvc's answers faked)."""
    calls, statuses = [], iter([
        "Task     Name    Created    Status\n0ld0000  dpo-s0  12:00 AM   Failed\n\nWorker status: 0 active, 0 idle\n",
        "Task     Name    Created    Status\n0ld0000  dpo-s0  12:00 AM   Failed\nabc1234  dpo-s0  12:16 AM   Queued\ndef5678  dpo-s1  12:16 AM   Queued\n\nWorker status: 0 active, 0 idle\n",
    ])
    queue = {"0ld0000": "Failed"}

    def fake_run(cmd, check=True):
        calls.append(cmd)
        if cmd[:3] == ["dvc", "queue", "status"]:
            try:
                return next(statuses)
            except StopIteration:
                rows = "".join(f"{t}  {'dpo-s0' if t != 'def5678' else 'dpo-s1'}  12:16 AM   {s}\n" for t, s in queue.items())
                for task in ("abc1234", "def5678"):  # each poll moves the queue on
                    queue[task] = {"Queued": "Running", "Running": "Success"}.get(queue.get(task, "Queued"), "Success")
                return "Task     Name    Created    Status\n" + rows + "\nWorker status: 1 active, 0 idle\n"
        return ""

    monkeypatch.setattr(sweep, "_run", fake_run)
    monkeypatch.setattr(sweep, "_start", calls.append)
    monkeypatch.setattr(sweep, "POLL_SECONDS", 0)
    tasks = sweep.queue_experiments("dpo", [0, 1], ["train.method=dpo"])
    assert tasks == ["abc1234", "def5678"]
    assert ["dvc", "exp", "run", "--queue", "-f", "-S", "seed=0", "-S", "train.method=dpo", "-n", "dpo-s0"] in calls
    said = []
    sweep.run_queue(tasks, 1, echo=said.append)
    assert ["dvc", "queue", "start", "-j", "1"] in calls
    assert said[-2:] == ["sweep: dpo-s0 success", "sweep: dpo-s1 success"]
    assert calls[-1] == ["dvc", "queue", "stop"]  # nothing left queued or running: idle workers go
    queue.update({"abc1234": "Queued", "def5678": "Queued"})
    monkeypatch.setattr(sweep, "_run", lambda cmd, check=True: "Task Name Created Status\nabc1234  dpo-s0  12:16 AM   Failed\ndef5678  dpo-s1  12:16 AM   Success\n" if cmd[2] == "status" else "")
    with pytest.raises(CarealError, match="dpo-s0 failed; see `dvc queue logs dpo-s0`"):
        sweep.run_queue(tasks, 1, echo=said.append)



def test_workers_that_leave_with_an_experiment_queued_are_started_again(monkeypatch):
    """Seen here: both workers left after their first experiments and dpo-s2 stayed queued with
    no worker; the sweep waited for good. Now it starts the workers again, and gives up with a
    clear error when they keep leaving."""
    def fake_queue(states: list[tuple[str, str, int]]):
        """Each poll of `dvc queue status` shows the next (dpo-s0 state, dpo-s1 state, workers)."""
        polls = iter(states)

        def fake_run(cmd, check=True):
            if cmd[:3] == ["dvc", "queue", "status"]:
                s0, s1, workers = next(polls)
                return (f"Task     Name    Created    Status\nabc1234  dpo-s0  12:16 AM   {s0}\ndef5678  dpo-s1  12:16 AM   {s1}\n"
                        f"\nWorker status: {workers} active, 0 idle\n")
            return ""
        return fake_run

    assert sweep.parse_queue_status("Task Name Created Status\nabc1234  dpo-s0  12:16 AM   Queued\n\nWorker status: 1 active, 2 idle\n") == (
        {"abc1234": ("dpo-s0", "Queued")}, 3)
    assert sweep.parse_queue_status("Task Name Created Status\n")[1] is None
    monkeypatch.setattr(sweep, "POLL_SECONDS", 0)
    starts, said = [], []
    monkeypatch.setattr(sweep, "_start", starts.append)
    stalled = [("Success", "Queued", 0)] * sweep.STALLED_POLLS
    monkeypatch.setattr(sweep, "_run", fake_queue([("Running", "Queued", 1), ("Success", "Queued", 1)] + stalled
                                                  + [("Success", "Running", 1), ("Success", "Success", 0), ("Success", "Success", 0)]))
    sweep.run_queue(["abc1234", "def5678"], 2, echo=said.append)
    assert starts == [["dvc", "queue", "start", "-j", "2"], ["dvc", "queue", "start", "-j", "1"]]
    assert "sweep: no queue worker is left and dpo-s1 still queued; starting the workers again" in said
    assert said[-1] == "sweep: dpo-s1 success"
    # a worker that is merely slow to appear (queued, no worker, fewer polls than the limit) is left alone
    starts.clear()
    monkeypatch.setattr(sweep, "_run", fake_queue([("Queued", "Queued", 0)] * (sweep.STALLED_POLLS - 1)
                                                  + [("Running", "Queued", 1), ("Success", "Success", 0), ("Success", "Success", 0)]))
    sweep.run_queue(["abc1234", "def5678"], 1, echo=said.append)
    assert starts == [["dvc", "queue", "start", "-j", "1"]]
    # workers that keep leaving: a clear error, not an endless wait
    monkeypatch.setattr(sweep, "_run", fake_queue([("Success", "Queued", 0)] * (sweep.STALLED_POLLS * (sweep.MAX_RESTARTS + 1))))
    with pytest.raises(CarealError, match=r"stopped 4 times with dpo-s1 still queued; see `dvc queue logs`"):
        sweep.run_queue(["abc1234", "def5678"], 2, echo=said.append)


def test_starting_the_queue_does_not_wait_for_its_workers():
    """`dvc queue start` forks workers that inherit its output and may live on (one whose idle
    monitor died stayed for 25 minutes); starting must return when the command does."""
    started = time.monotonic()
    sweep._start(["sh", "-c", "sleep 20 & echo started"])  # the sleep keeps the output open
    assert time.monotonic() - started < 10
    with pytest.raises(CarealError, match=r"failed \(3\): no broker"):
        sweep._start(["sh", "-c", "echo no broker; exit 3"])


def test_arguments_are_checked():
    assert sweep.parse_seeds("0, 1,2") == [0, 1, 2]
    for bad in ("", "0,0", "a", "-1"):
        with pytest.raises(CarealError):
            sweep.parse_seeds(bad)
    with pytest.raises(CarealError, match="sets the seed itself"):
        sweep.check_sets(["seed=3"])
    with pytest.raises(CarealError, match="key=value"):
        sweep.check_sets(["train.method"])


@pytest.mark.slow
def test_sweep_end_to_end_on_the_reduced_run(reduced_run, tmp_path):
    """The real commands on a copy of the reduced run: seed 0 is that run's own seed, so DVC's
    run cache restores every stage and the sweep costs only DVC's own time."""
    import sys

    from tests.reduced import base_env, copy_of, run

    dest = copy_of(reduced_run, tmp_path / "careal")
    env = {**base_env(), "PYTHONPATH": str(dest)}
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "reduced run"], dest, env)
    before = (dest / "metrics/c2.json").read_text()
    out = run([sys.executable, "-m", "careal.cli", "sweep", "--seeds", "0", "-n", "e2e", "--json", "sweep.json"], dest, env)
    assert "sweep e2e: mean (min..max) over seeds 0" in out and "on every seed" in out
    result = json.loads((dest / "sweep.json").read_text())
    assert result["runs"]["0"]["c2"]["safety_score"] == json.loads(before)["safety_score"]  # the run's own figures
    assert result["summary"]["policies"] == ["c0", "c1", "c2"] and "fluency" in result["summary"]["stats"]["c2"]
    assert (dest / "metrics/c2.json").read_text() == before  # the workspace is left as it was
    again = run([sys.executable, "-m", "careal.cli", "sweep", "--seeds", "0", "-n", "e2e", "--no-run"], dest, env)
    assert again.splitlines()[:3] == out.splitlines()[:3]
