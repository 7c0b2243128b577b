"""The DVC side of careal on one reduced run (tests/test_pipeline_e2e.py's REDUCED), shared by
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

from careal.scoring import HEADLINE_KEYS
from tests.test_pipeline_e2e import REDUCED, ROOT, ran_stages, run

pytestmark = pytest.mark.slow
CAREAL = [sys.executable, "-m", "careal.cli"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A reduced copy of the repo, run once with `dvc repro` and committed."""
    dest = tmp_path_factory.mktemp("dvcx") / "careal"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("data/", "models/", "metrics/")) or not (ROOT / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for section, values in REDUCED.items():
        params[section] = values if section == "cycles" else {**params[section], **values}
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dest / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(dest),
           "GIT_AUTHOR_NAME": "careal-test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "careal-test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    run(["git", "init", "-q", "-b", "main"], dest, env)
    output = run(["dvc", "repro"], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "commit", "-qm", "reduced run"], dest, env)
    return dest, env, output


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
    assert files == {"metrics/c0.json", "metrics/c1.json", "metrics/c2.json"}
    table = run(["dvc", "exp", "show", "--md", "--no-pager", "--only-changed"], dest, env)
    header = table.splitlines()[0]
    # 3 policies x the headline keys, not hundreds of breakdown columns
    assert header.count("metrics/") <= 3 * len(HEADLINE_KEYS) + 3, header
    wide = run(["dvc", "exp", "show", "--md", "--no-pager"], dest, env).splitlines()[0]
    assert "breakdown" not in wide and "by_method" not in wide


def test_status_is_fast_and_agrees_with_dvc_status(project):
    dest, env, _ = project
    started = time.monotonic()
    text = run([str(Path(sys.executable).parent / "careal"), "status"], dest, env) if (Path(sys.executable).parent / "careal").exists() else run([*CAREAL, "status"], dest, env)
    elapsed = time.monotonic() - started
    assert "nothing to do" in text and "c2 (from c1)" in text
    assert re.search(r"^c1\s+ok\s+ok\s+ok\s+ok\s+ok$", text, re.M), text
    assert elapsed < 2.5, f"careal status took {elapsed:.2f}s"
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
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *offline, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={shot}", out.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    image = Image.open(shot).convert("RGB")
    pixels = list(image.getdata())
    # the trend chart's Safety Score line (#1f4e79) and harmful refusal line (#c8553d) are drawn
    def near(colour):
        return sum(1 for p in pixels if all(abs(a - b) < 24 for a, b in zip(p, colour)))
    assert near((0x1F, 0x4E, 0x79)) > 200 and near((0xC8, 0x55, 0x3D)) > 200
    assert len(set(pixels[:: 7])) > 50
    keep = os.environ.get("CAREAL_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_cycles_add_reruns_only_the_new_cycle_and_md_report_shows_the_change(project):
    dest, env, _ = project
    run([*CAREAL, "cycles", "add"], dest, env)
    assert "c3: {prev: c2}" in (dest / "params.yaml").read_text()
    output = run(["dvc", "repro"], dest, env)
    assert ran_stages(output) == {"generate@c3", "judge@c3", "pair@c3", "train@c3", "evaluate@c3", "summarise"}
    assert "nothing to do" in run([*CAREAL, "status"], dest, env)
    md = run([*CAREAL, "report", "--md", "--against", "HEAD"], dest, env)
    lines = [line for line in md.splitlines() if line.startswith("| c")]
    assert [line.split("|")[1].strip() for line in lines] == ["c0", "c1", "c2", "c3"]
    assert "(+0.000)" in lines[0] and "(new)" in lines[3]
    assert "refuse-all safety" in md
