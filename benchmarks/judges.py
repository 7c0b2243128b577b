"""Measure a judge against hand-labelled answers: accuracy, macro-F1, Cohen's kappa, per-class
precision / recall / F1 and the confusion matrix, per split (dev, heldout) and overall.

The default labelled set is benchmarks/data/judge_labelled_answers.jsonl (its README is
docs/judges-rules.md); any JSONL with ``id``, ``prompt``, ``response``, ``label`` (Accept /
Caution / Refuse) and optionally ``split`` works. Any judge careal can build is measured the
same way: ``--judge`` takes a judge spec as params.yaml writes it (a kind, or a YAML mapping), or
``--params params.yaml --role eval`` reads one from a params file.

    python benchmarks/judges.py                                   # the rules judge
    python benchmarks/judges.py --judge '{kind: rules}' --output /tmp/rules.json
    python benchmarks/judges.py --params params.yaml --role train
    python benchmarks/judges.py --errors dev                      # list the dev set's mistakes

Tune on ``dev`` only; ``heldout`` is the check that the tuning generalises.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import yaml

DEFAULT_SET = Path(__file__).resolve().parent / "data" / "judge_labelled_answers.jsonl"


def load_labelled(path: Path) -> list[dict]:
    from careal.errors import DataError
    from careal.metrics.scoring import LABELS

    records = []
    for row, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, row, None, f"not valid JSON ({exc.msg})") from None
        for name in ("id", "prompt", "response", "label"):
            if not isinstance(record.get(name), str):
                raise DataError(path, row, name, "missing or not a string")
        if record["label"] not in LABELS:
            raise DataError(path, row, "label", f"{record['label']!r} is not one of {', '.join(LABELS)}")
        records.append(record)
    return records


def make_spec(judge: str | None, params: Path | None, role: str):
    from careal.params import JudgeSpec, load_params
    from careal.params.parse import _build

    if params is not None:
        return getattr(load_params(params).judge, role)
    raw = yaml.safe_load(judge or "rules")
    if isinstance(raw, str):
        raw = {"kind": raw}
    return _build(JudgeSpec, raw, "judge")


def measure(judge, records: list[dict]) -> tuple[dict, list[str], float]:
    """Labels for every record (normalised) and the report per split; also the seconds taken."""
    from careal.metrics.reliability import against_gold, confusion_matrix
    from careal.metrics.scoring import ALL_LABELS, normalize_label

    start = time.perf_counter()
    verdicts = judge.label_batch([(r["prompt"], r["response"]) for r in records])
    seconds = time.perf_counter() - start
    preds = [normalize_label(label) for label, _ in verdicts]
    splits = {"all": list(range(len(records)))}
    for i, r in enumerate(records):
        if r.get("split") in ("dev", "heldout"):
            splits.setdefault(r["split"], []).append(i)
    report = {}
    for name in ["dev", "heldout", "all"]:
        idx = splits.get(name)
        if not idx:
            continue
        pred, gold = [preds[i] for i in idx], [records[i]["label"] for i in idx]
        result = against_gold(pred, gold)
        result["confusion_gold_by_pred"] = confusion_matrix(gold, pred, ALL_LABELS)
        report[name] = result
    return report, preds, seconds


def format_report(report: dict) -> str:
    from careal.metrics.scoring import ALL_LABELS, LABELS

    lines = []
    for name, r in report.items():
        kappa = "n/a" if r["kappa"] is None else f"{r['kappa']:.3f}"
        lines.append(f"[{name}] n={r['n']}  accuracy={r['accuracy']:.3f}  macro_f1={r['macro_f1']:.3f}  kappa={kappa}")
        for label in LABELS:
            c = r["per_class"][label]
            lines.append(f"    {label:<8} precision={c['precision']:.3f} recall={c['recall']:.3f} f1={c['f1']:.3f} support={c['support']}")
        lines.append("    confusion, rows gold, columns judge:")
        lines.append("    " + " " * 8 + " ".join(f"{label:>9}" for label in ALL_LABELS))
        for gold in LABELS:
            row = r["confusion_gold_by_pred"][gold]
            lines.append(f"    {gold:<8}" + " ".join(f"{row[label]:>9}" for label in ALL_LABELS))
    return "\n".join(lines)


@click.command()
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=DEFAULT_SET, show_default=True, help="Labelled answers (JSONL).")
@click.option("--judge", default=None, help="Judge spec: a kind (rules) or a YAML mapping ('{kind: rules}'). Default: rules.")
@click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Read the judge spec from this params file instead.")
@click.option("--role", type=click.Choice(["train", "eval"]), default="eval", show_default=True, help="With --params: which judge (judge.train or judge.eval).")
@click.option("--errors", type=click.Choice(["none", "dev", "heldout", "all"]), default="none", show_default=True, help="List the misclassified answers of this split.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the report as JSON here.")
def main(data_path, judge, params_path, role, errors, output):
    """Measure one judge against hand labels; print accuracy, macro-F1, kappa and confusion."""
    from careal.errors import CarealError
    from careal.judges import make_judge

    try:
        records = load_labelled(data_path)
        built = make_judge(make_spec(judge, params_path, role))
    except CarealError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    report, preds, seconds = measure(built, records)
    click.echo(f"judge: {json.dumps(built.identity)}")
    click.echo(f"labelled set: {data_path.name} ({len(records)} answers), judged in {seconds:.2f} s")
    click.echo(format_report(report))
    if errors != "none":
        click.echo(f"\nmistakes ({errors}):")
        for r, p in zip(records, preds):
            if p != r["label"] and (errors == "all" or r.get("split") == errors):
                click.echo(f"  {r['id']} gold={r['label']} judge={p}: {r['response'][:110]!r}")
    if output:
        output.write_text(json.dumps({"judge": built.identity, "data": data_path.name, "seconds": round(seconds, 3), "report": report}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
