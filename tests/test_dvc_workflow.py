"""The DVC side of careal on one reduced run (tests/reduced.py), shared by
every test here: headline metrics vs breakdowns, `careal status` against `dvc status`, the
plots, the offline HTML report in headless Chromium, the Markdown report against a revision,
and `careal cycles add` rerunning only the new cycle. Tests run in file order on one project."""

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

from careal.metrics.scoring import HEADLINE_KEYS
from tests.reduced import base_env, copy_of, ran_stages, run

pytestmark = pytest.mark.slow
CAREAL = [sys.executable, "-m", "careal.cli"]


@pytest.fixture(scope="module")
def project(reduced_run, tmp_path_factory):
    """A copy of the shared reduced run (tests/reduced.py), committed."""
    dest = copy_of(reduced_run, tmp_path_factory.mktemp("dvcx") / "careal")
    env = {**base_env(), "PYTHONPATH": str(dest)}
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "reduced run"], dest, env)
    return dest, env, reduced_run["log"]


def test_headline_metrics_are_declared_and_breakdowns_are_not(project):
    dest, env, output = project
    # one result line per stage from careal, after DVC's own "Running stage" line
    for stage in ("prepare", "bootstrap", "evaluate@c0", "train@c1", "summarise"):
        assert re.search(rf"^{re.escape(stage)}: ", output, re.M), f"no result line for {stage}"
    for policy in ("c0", "c1", "c2"):
        headline = json.loads((dest / f"metrics/{policy}.json").read_text())
        assert list(headline) == list(HEADLINE_KEYS)
        assert headline["refuse_all_safety"] + headline["accept_all_safety"] == pytest.approx(1.0)
        breakdown = json.loads((dest / f"metrics/breakdown/{policy}.json").read_text())
        assert set(breakdown["by_method"]) == {"direct", "indirect", "obfuscate", "role_play"}
        assert "discrimination" in breakdown["by_method"]["direct"]
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], dest, env))
    files = {path for rev in shown.values() for path in rev["data"]}
    # the policies' headline numbers and their 95% intervals, the judges' reliability headline and
    # the classifier judge's training figures (judge_train); no breakdown, no details
    assert files == {"metrics/c0.json", "metrics/c1.json", "metrics/c2.json", "metrics/ci/c0.json", "metrics/ci/c1.json", "metrics/ci/c2.json",
                     "metrics/judges/c1.json", "metrics/judges/c2.json", "metrics/judge_train.json", "metrics/selected.json"}
    intervals = json.loads((dest / "metrics/ci/c1.json").read_text())
    headline = json.loads((dest / "metrics/c1.json").read_text())
    assert intervals["resamples"] == 2000 and intervals["prompts"] == 32 and "base prompts" in intervals["method"]
    assert intervals["safety_score"]["value"] == pytest.approx(headline["safety_score"], abs=1e-6)
    assert intervals["safety_score"]["lo"] <= headline["safety_score"] <= intervals["safety_score"]["hi"]
    changes = json.loads((dest / "metrics/ci/changes.json").read_text())
    assert set(changes["policies"]) == {"c1", "c2"} and set(changes["policies"]["c2"]) == {"c0", "c1"}
    assert set(changes["policies"]["c1"]["c0"]["mcnemar"]) == {"harmful", "harmless"}
    table = run(["dvc", "exp", "show", "--md", "--no-pager", "--only-changed"], dest, env)
    header = table.splitlines()[0]
    # 3 policies x (the headline keys + 5 intervals of 3 numbers) (+ 2 cycles' judge headlines),
    # not hundreds of breakdown columns
    assert header.count("metrics/") <= 3 * (len(HEADLINE_KEYS) + 15) + 2 * 12 + 3, header
    wide = run(["dvc", "exp", "show", "--md", "--no-pager"], dest, env).splitlines()[0]
    # (metrics/breakdown may appear as a dep column of summarise; its contents never as metrics)
    metric_columns = [c.strip() for c in wide.split("|") if ".json:" in c]
    assert metric_columns and not [c for c in metric_columns if any(k in c for k in ("by_method", "label_counts", "by_harm_level", "confusion"))]


def test_status_is_fast_and_agrees_with_dvc_status(project):
    dest, env, _ = project
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = run([*CAREAL, "status"], dest, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds, not wall time: a shared CI machine's load must not decide this test
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert "nothing to do" in text and "c2 (from c1)" in text
    assert re.search(r"^c1\s+ok\s+ok\s+ok\s+ok\s+ok$", text, re.M), text
    assert cpu < 1.0, f"careal status used {cpu:.2f} s of CPU"
    original = (dest / "params.yaml").read_text()
    try:
        params = yaml.safe_load(original)
        params["train"]["beta"] = 0.25
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        ours = run([*CAREAL, "status"], dest, env)
        theirs = set(json.loads(run(["dvc", "status", "--json"], dest, env)))
        changed = set(re.findall(r"^  (\S+): changed", ours, re.M))
        assert changed == theirs == {"train@c1", "train@c2"}
        assert re.search(r"^  evaluate@c1: stale \(after train@c1\)", ours, re.M), ours
    finally:
        (dest / "params.yaml").write_text(original)
    assert "nothing to do" in run([*CAREAL, "status"], dest, env)


def test_plots_show_and_diff_render(project, tmp_path):
    dest, env, _ = project
    trend = json.loads((dest / "metrics/plots/trend.json").read_text())
    assert [row["policy"] for row in trend] == ["c0", "c1", "c2"] and [row["step"] for row in trend] == [0, 1, 2]
    run(["dvc", "plots", "show", "-o", str(tmp_path / "show")], dest, env)
    page = (tmp_path / "show" / "index.html").read_text()
    for title in ("Safety Score and refusal rates across policies", "Label shares at harm level 3"):
        assert title in page
    run(["dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff")], dest, env)
    assert "Safety Score and refusal rates across policies" in (tmp_path / "diff" / "index.html").read_text()


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: run `make system-packages` (apt-get install chromium)"
    return found


def test_html_report_is_self_contained_and_renders_offline(project, tmp_path):
    from PIL import Image

    dest, env, _ = project
    out = tmp_path / "report.html"
    run([*CAREAL, "report", "--html", str(out)], dest, env)
    page = out.read_text()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?https?://", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert page.count("<svg") >= 5
    offline = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium(), *offline, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 5 and "Answers whose label changed" in dom.stdout
    assert "Changes on the same prompts" in dom.stdout and "95% intervals" in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *offline, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", out.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    image = Image.open(shot).convert("RGB")
    pixels = list(image.get_flattened_data()) if hasattr(image, "get_flattened_data") else list(image.getdata())
    # every series colour of the charts is painted (lines, markers, legends: whatever the data),
    # and the page is far from blank
    def near(colour):
        return sum(1 for p in pixels if all(abs(a - b) < 24 for a, b in zip(p, colour)))
    for colour in ((0x1F, 0x4E, 0x79), (0xC8, 0x55, 0x3D), (0xE0, 0xA6, 0x3A), (0x4C, 0x9F, 0x70)):
        assert near(colour) > 40, colour
    assert sum(1 for p in pixels if min(p) < 235) > 0.03 * len(pixels)
    assert len(set(pixels[::7])) > 50
    keep = os.environ.get("CAREAL_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_cycles_add_reruns_only_the_new_cycle_and_md_report_shows_the_change(project):
    dest, env, _ = project
    run([*CAREAL, "cycles", "add"], dest, env)
    assert "c3: {prev: c2}" in (dest / "params.yaml").read_text()
    output = run(["dvc", "repro"], dest, env)
    assert ran_stages(output) == {"generate@c3", "judge@c3", "pair@c3", "train@c3", "evaluate@c3", "summarise", "judge_reliability@c3", "validation@c3", "select"}
    assert "nothing to do" in run([*CAREAL, "status"], dest, env)
    md = run([*CAREAL, "report", "--md", "--against", "HEAD"], dest, env)
    lines = [line for line in md.splitlines() if line.startswith("| c")]
    assert [line.split("|")[1].strip() for line in lines] == ["c0", "c1", "c2", "c3"]
    # c0 did not change: within both runs' intervals; c3 is new
    assert "(+0.000, within ±" in lines[0] and "(new)" in lines[3]
    assert "refuse-all safety" in md and "95% intervals" in md and "c3 against c0 on the same prompts" in md


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """A real OpenSSH server on 127.0.0.1 (a free port), as the current user, with a temporary
    host key and an authorized key made here; stopped after the test."""
    import getpass
    import socket

    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    keygen = shutil.which("ssh-keygen")
    assert Path(binary).exists() and keygen, "openssh-server is not installed: run `make system-packages`"
    home = tmp_path / "sshd"
    home.mkdir()
    for name in ("host_key", "user_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "user_key.pub").read_text())
    (home / "authorized_keys").chmod(0o600)
    port = free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder (a runtime dir)
    server = subprocess.Popen([binary, "-D", "-e", "-f", str(home / "sshd_config")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert server.poll() is None, f"sshd exited: {server.stdout.read()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "sshd did not listen within 15 s"
                time.sleep(0.1)
        yield {"port": port, "user": getpass.getuser(), "key": home / "user_key"}
    finally:
        server.terminate()
        server.wait(timeout=10)


def assert_complete_clone(clone: Path, env: dict) -> None:
    """Every output of dvc.lock present, `dvc status` clean, `dvc repro` runs nothing."""
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    outs = [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]
    assert outs and all((clone / path).exists() for path in outs), [p for p in outs if not (clone / p).exists()]
    assert (clone / "models/c3/adapter_model.safetensors").exists() and (clone / "data/cycles/c3/dpo.jsonl").exists()
    assert "up to date" in run(["dvc", "status"], clone, env)
    assert ran_stages(run(["dvc", "repro"], clone, env)) == set()


def test_push_and_pull_every_output_through_a_local_and_an_ssh_remote(project, sshd, tmp_path):
    dest, env, _ = project
    local_store, ssh_store = tmp_path / "local-remote", tmp_path / "ssh-remote"
    run(["dvc", "remote", "add", "-f", "-d", "local", str(local_store)], dest, env)
    run(["dvc", "remote", "add", "-f", "ssh", f"ssh://127.0.0.1:{sshd['port']}{ssh_store}"], dest, env)
    run(["dvc", "remote", "modify", "ssh", "user", sshd["user"]], dest, env)
    run(["dvc", "remote", "modify", "ssh", "keyfile", str(sshd["key"])], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "c3 and remotes"], dest, env)
    run(["dvc", "push"], dest, env)
    run(["dvc", "push", "-r", "ssh"], dest, env)
    assert any(ssh_store.rglob("*")) and any(local_store.rglob("*"))
    # the model registry: register a version of an adapter (a GTO tag, as `gto register` makes),
    # then fetch it by name (the latest version) from the repo, through its default remote
    run(["git", "tag", "-a", "policy-c3@v0.1.0", "-m", "policy-c3 v0.1.0"], dest, env)
    run(["dvc", "artifacts", "get", str(dest), "policy-c3", "-o", str(tmp_path / "fetched")], tmp_path, env)
    assert (tmp_path / "fetched" / "adapter_model.safetensors").exists() and (tmp_path / "fetched" / "lineage.json").exists()

    for remote in ("local", "ssh"):
        clone = tmp_path / f"clone-{remote}"
        started = time.monotonic()
        run(["git", "clone", "-q", str(dest), str(clone)], tmp_path, env)
        run(["dvc", "pull", "-r", remote], clone, env)
        assert_complete_clone(clone, env)
        print(f"fresh clone + dvc pull -r {remote} + dvc status + dvc repro: {time.monotonic() - started:.1f} s")


def test_queued_experiments_run_and_show_side_by_side(project):
    """`dvc exp run --queue -S ...` twice, `dvc queue start`, then `dvc exp show --md` lists both.
    (The sweep changes evaluate.max_new_tokens: the cheapest param that reruns stages.)"""
    dest, env, _ = project
    assert "identity present" in run([*CAREAL, "doctor"], dest, env)
    for tokens in (8, 12):
        run(["dvc", "exp", "run", "--queue", "-S", f"evaluate.max_new_tokens={tokens}", "-n", f"tokens{tokens}"], dest, env)
    run(["dvc", "queue", "start", "-j", "1"], dest, env)
    deadline = time.monotonic() + 900
    while True:
        status = run(["dvc", "queue", "status"], dest, env)
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert len(re.findall(r"\bSuccess\b", status)) == 2, status
    shown = run(["dvc", "exp", "show", "--md", "--no-pager", "--only-changed"], dest, env)
    assert "tokens8" in shown and "tokens12" in shown and "evaluate.max_new_tokens" in shown
    for tokens in (8, 12):
        row = next(line for line in shown.splitlines() if f"tokens{tokens}" in line)
        assert re.search(rf"\|\s*{tokens}\s*\|", row), row  # its evaluate.max_new_tokens cell
    names = {e["name"] for entry in json.loads(run(["dvc", "exp", "show", "--json"], dest, env)) for e in (entry.get("experiments") or []) for e in (e.get("revs") or [])}
    assert {"tokens8", "tokens12"} <= names
    subprocess.run(["dvc", "queue", "stop"], cwd=dest, env=env, capture_output=True)  # leave no worker behind


def test_two_branches_diff_their_params_and_metrics(project):
    """Two branches that differ in a training param (train.kto_beta: the reduced policy gives DPO
    no pairs, so both branches train KTO, whose own beta applies), each run and committed,
    compared with dvc."""
    dest, env, _ = project
    run(["git", "checkout", "-q", "-b", "beta03"], dest, env)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    assert params["train"]["kto_beta"] == 0.5
    params["train"]["kto_beta"] = 0.3
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    output = run(["dvc", "repro"], dest, env)
    assert {"train@c1", "train@c3", "evaluate@c3"} <= ran_stages(output) and "prepare" not in ran_stages(output)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "beta 0.3"], dest, env)
    params_diff = json.loads(run(["dvc", "params", "diff", "main", "beta03", "--json"], dest, env))
    assert {k: params_diff["params.yaml"]["train.kto_beta"][k] for k in ("old", "new")} == {"old": 0.5, "new": 0.3}
    metrics_diff = json.loads(run(["dvc", "metrics", "diff", "main", "beta03", "--all", "--json"], dest, env))
    policies = {f"metrics/{p}.json" for p in ("c0", "c1", "c2", "c3")}
    judges = {f"metrics/judges/{c}.json" for c in ("c1", "c2", "c3")}
    intervals = {f"metrics/ci/{p}.json" for p in ("c0", "c1", "c2", "c3")}   # each policy's 95% intervals
    assert set(metrics_diff) == policies | intervals | judges | {"metrics/judge_train.json", "metrics/selected.json"}
    for key in HEADLINE_KEYS:
        assert set(metrics_diff["metrics/c3.json"][key]) >= {"old", "new"}
    # the branches trained different adapters (the reduced policy's metrics may still tie)
    locks = [yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], dest, env))["stages"]["train@c1"]["outs"][0]["md5"] for rev in ("main", "beta03")]
    assert locks[0] != locks[1]
    for path, keys in json.loads(run(["dvc", "metrics", "diff", "main", "beta03", "--json"], dest, env)).items():
        for key, values in keys.items():
            assert values["old"] != values["new"], (path, key)  # listed only when the value differs
    run(["git", "checkout", "-q", "main"], dest, env)
