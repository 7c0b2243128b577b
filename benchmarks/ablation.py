"""The paper's training-judge ablation, offline: the same pipeline with the training judge in
{rules, self, classifier} (and hf when a second local model folder is given), the evaluation
judge fixed (params.yaml's judge.eval, rules on the embedded default), one DVC experiment each;
then one markdown table of the last cycle's figures.

    python benchmarks/ablation.py                                   # the full default (slow: the self judge)
    python benchmarks/ablation.py --cycles 2 -S generate.prompts_per_cycle=96   # reduced
    python benchmarks/ablation.py --judges rules,classifier --hf-model path/to/model --hf-rubric compact

How: the project's files (git-tracked and untracked-not-ignored, so uncommitted edits count)
are copied to a work folder (``--workdir``, else a temporary one, removed afterwards), made a
fresh git repository, and ``careal cycles set N`` / the ``-S`` overrides are applied to its
params.yaml as the baseline. Each judge is one ``dvc exp run -n ablation-<judge> -S
judge.train.kind=<judge>`` on that baseline (params.yaml is reset to it before each run, so no
override leaks into the next), with ``PYTHONPATH`` set to the copy so its careal runs. DVC
reuses what the judge does not change (prepare, bootstrap, evaluate@c0), so only the cycles
rerun; the copy uses the project's DVC cache, so a stage the project has already run with the
same inputs (the whole run of the judge params.yaml already has, on a reproduced project) is
checked out from it, not rerun. Keep the work folder (``--workdir``) to look at the runs with
``dvc exp show``.

Columns (the last cycle cK): Safety Score, harmful refusal rate, erroneous refusal rate,
discrimination (harmful - erroneous) from metrics/cK.json (the fixed eval judge on cK's greedy
eval answers); the training judge's Cohen's kappa against the eval judge and its accuracy
against the known styles of cycle cK's sampled answers (metrics/judges/cK.json, the
judge_reliability stage), and its accept rate on them. Row c0 is the base policy, shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "careal-ablation", "GIT_AUTHOR_EMAIL": "ablation@localhost", "GIT_COMMITTER_NAME": "careal-ablation", "GIT_COMMITTER_EMAIL": "ablation@localhost"}


def copy_project(dst: Path) -> None:
    """The project's files as they are now (tracked or untracked, not ignored) into ``dst``."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)


def run(cmd: list[str], cwd: Path, env: dict, log) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"ablation: `{' '.join(cmd)}` failed (exit {done.returncode}); see {log.name}")


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict], last: str, eval_kind: str) -> str:
    head = (
        f"| training judge | Safety Score ({last}) | harmful refusal | erroneous refusal | discrimination "
        f"| kappa vs eval judge ({eval_kind}) | accuracy vs known styles | train-judge accept rate | run seconds |"
    )
    lines = [head, "| " + " | ".join(["---"] * 9) + " |"]
    for r in rows:
        m, j = r["metrics"], r["judge"]
        lines.append(
            f"| {r['name']} | {fmt(m.get('safety_score'))} | {fmt(m.get('harmful_refusal_rate'))} | {fmt(m.get('erroneous_refusal_rate'))} "
            f"| {fmt(m.get('discrimination'))} | {fmt(j.get('kappa'))} | {fmt(j.get('train_gold_accuracy'))} | {fmt(j.get('train_accept_rate'))} "
            f"| {r['seconds'] if r['seconds'] is not None else ''} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--judges", default="rules,self,classifier", help="training judges, comma-separated (rules, self, classifier, hf); default %(default)s")
    ap.add_argument("--hf-model", help="a second local model folder: adds (or enables) the hf training judge")
    ap.add_argument("--hf-rubric", help="the hf judge's rubric (default: the hf judge's, cares)")
    ap.add_argument("--cycles", type=int, help="number of cycles (careal cycles set N); default: params.yaml's")
    ap.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="a params override for every run, as dvc exp run -S (repeat)")
    ap.add_argument("--workdir", type=Path, help="keep the project copy and its experiments here (must not exist)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    judges = [j.strip() for j in args.judges.split(",") if j.strip()]
    if args.hf_model and "hf" not in judges:
        judges.append("hf")
    if "hf" in judges and not args.hf_model:
        ap.error("the hf judge needs --hf-model (a local model folder)")
    if args.workdir and args.workdir.exists():
        ap.error(f"--workdir {args.workdir} exists; give a new folder")
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="careal-ablation-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(work), "DVC_NO_ANALYTICS": "1"}
    env.pop("CAREAL_JUDGE_CACHE", None)  # the copy's own cache
    log_path = (args.out.with_suffix(".log") if args.out else work.parent / f"{work.name}.log").resolve()
    rows, started = [], time.time()
    try:
        copy_project(work)
        with open(log_path, "w", encoding="utf-8") as log:
            run(["git", "init", "-q"], work, env, log)
            # The project's DVC cache, shared: what a judge does not change (prepare, bootstrap,
            # evaluate@c0, a run identical to one already made) is checked out, not rerun
            cache = subprocess.run(["dvc", "cache", "dir"], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip()
            run(["dvc", "cache", "dir", "--local", cache], work, env, log)
            if args.cycles is not None:
                run([sys.executable, "-m", "careal.cli", "cycles", "set", str(args.cycles)], work, env, log)
            run(["git", "add", "-A"], work, env, log)
            run(["git", "commit", "-qm", "ablation baseline"], work, env, log)
            baseline = (work / "params.yaml").read_text(encoding="utf-8")
            import yaml

            raw = yaml.safe_load(baseline)
            last = list(raw["cycles"])[-1]
            eval_kind = raw["judge"]["eval"]["kind"]
            for kind in judges:
                (work / "params.yaml").write_text(baseline, encoding="utf-8")
                sets = list(args.overrides) + [f"judge.train.kind={kind}"]
                if kind == "hf":
                    sets.append(f"judge.train.model={Path(args.hf_model).resolve()}")
                    if args.hf_rubric:
                        sets.append(f"judge.train.rubric={args.hf_rubric}")
                print(f"ablation: training judge {kind} ...", file=sys.stderr, flush=True)
                t0 = time.time()
                run(["dvc", "exp", "run", "-n", f"ablation-{kind}", *[a for s in sets for a in ("-S", s)]], work, env, log)
                seconds = round(time.time() - t0)
                rows.append({
                    "name": kind, "seconds": seconds,
                    "metrics": read(work / "metrics" / f"{last}.json"),
                    "judge": read(work / "metrics" / "judges" / f"{last}.json"),
                    "judge_train": read(work / "metrics" / "judge_train.json"),
                })
                print(f"ablation: {kind} done in {seconds} s", file=sys.stderr, flush=True)
            base = {"name": "c0 (base policy, before any cycle)", "seconds": None, "metrics": read(work / "metrics" / "c0.json"), "judge": {}}
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"(log: {log_path})", file=sys.stderr)
    print(f"Settings: {len(raw['cycles'])} cycles; overrides: {', '.join(args.overrides) or 'none'}; eval judge {eval_kind}; total {round(time.time() - started)} s\n")
    print(table([base, *rows], last, eval_kind))
    for r in rows:
        jt = r.get("judge_train") or {}
        if jt.get("trained"):
            print(f"\nclassifier (judge_train): held-out accuracy {fmt(jt['heldout_accuracy'])}, macro-F1 {fmt(jt['heldout_macro_f1'])} on {jt['n_heldout']} answers ({r['name']} run)")
    if args.out:
        args.out.write_text(json.dumps({"settings": {"cycles": list(raw["cycles"]), "overrides": args.overrides, "eval_judge": eval_kind}, "base": base, "runs": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
