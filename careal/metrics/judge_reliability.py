"""The per-cycle judge reliability report (stage ``judge_reliability@cK``): how far the
training judge's labels of a cycle's answers can be trusted.

On cycle cK's generations it sets the training judge's labels (data/cycles/cK/judgments.jsonl)
against the evaluation judge's labels of the same answers, and both against gold labels where
there are any, using the pure functions of ``careal.metrics.reliability``:

- ``agreement`` and Cohen's ``kappa`` (train vs eval), the ``confusion`` matrix (rows: training
  judge, columns: eval judge, Unparsed included), each judge's ``label_counts`` and
  ``accept_rate_by_level`` (the calibration bias the CARES paper reports: a lenient judge
  accepts more answers to harmful prompts);
- ``gold``: accuracy, macro-F1, kappa and per-class precision / recall / F1 of each judge
  against gold labels: on the embedded default the answers' known warm-start styles
  (``careal.data.styles.style_of``: an answer that opens like a style's template), or a user's file
  of ``prompt``, ``response``, ``label`` records (``judge.gold``). Answers without a gold label
  are left out of these figures, and ``gold.n`` says how many were measured.
"""

from __future__ import annotations

from pathlib import Path

from careal.errors import DataError
from careal.metrics.scoring import ALL_LABELS, LABELS, normalize_label

STYLE_LABEL = {"accept": "Accept", "caution": "Caution", "refuse": "Refuse"}


def gold_labels(gold: str | None, known_styles: bool, generations: list[dict]) -> tuple[str | None, list[str | None]]:
    """(gold source, one gold label or None per generation record). ``gold`` is params.yaml's
    ``judge.gold``; ``auto`` reads the answers' styles back (``careal.data.styles.style_of``)
    when ``known_styles`` (the policy is the built-in tiny model, which answers in them), and
    gives no gold otherwise."""
    if gold in (None, "none") or (gold == "auto" and not known_styles):
        return None, [None] * len(generations)
    if gold == "auto":
        from careal.data.styles import style_of

        return "tiny_styles", [STYLE_LABEL.get(style_of(g["response"]) or "") for g in generations]
    from careal.jsonio import read_jsonl

    path = Path(gold)
    table: dict[tuple[str, str], str] = {}
    for number, row in enumerate(read_jsonl(path), start=1):
        for name in ("prompt", "response", "label"):
            if not isinstance(row.get(name), str):
                raise DataError(path, number, name, "missing or not a string")
        label = normalize_label(row["label"])
        if label not in LABELS:
            raise DataError(path, number, "label", f"must be Accept, Caution or Refuse, got {row['label']!r}")
        table[(row["prompt"], row["response"])] = label
    return path.as_posix(), [table.get((g["prompt"], g["response"])) for g in generations]


def _by_key(records: list[dict], path) -> dict:
    out = {}
    for number, r in enumerate(records, start=1):
        out[(r.get("id"), r.get("sample"))] = r
    return out


def reliability_report(prompts: list[dict], generations: list[dict], train: list[dict], evaluated: list[dict], gold: tuple[str | None, list], train_path) -> tuple[dict, list[dict]]:
    """(the metrics document, the (train label, eval label) rows for the confusion plot)."""
    from careal.metrics import reliability as rel

    levels_of = {p["id"]: int(p["harmful_level"]) for p in prompts}
    train_by_key = _by_key(train, train_path)
    rows, train_labels, eval_labels, levels = [], [], [], []
    for number, (g, e) in enumerate(zip(generations, evaluated), start=1):
        t = train_by_key.get((g["id"], g["sample"]))
        if t is None:
            raise DataError(train_path, None, "id", f"no judgment for generation id {g['id']!r} sample {g['sample']!r} (rerun the judge stage)")
        if g["id"] not in levels_of:
            raise DataError(train_path, None, "id", f"generation id {g['id']!r} is not a prepared train prompt")
        train_labels.append(t["label"])
        eval_labels.append(e["label"])
        levels.append(levels_of[g["id"]])
        rows.append({"id": g["id"], "sample": g["sample"], "train_judge": t["label"], "eval_judge": e["label"]})
    source, gold_list = gold
    report = {
        "n": len(rows),
        "train_judge": train[0]["judge"]["kind"] if train else None,
        "eval_judge": evaluated[0]["judge"]["kind"] if evaluated else None,
        "agreement": rel.agreement(train_labels, eval_labels) if rows else None,
        "kappa": rel.cohen_kappa(train_labels, eval_labels, ALL_LABELS) if rows else None,
        "confusion": rel.confusion_matrix(train_labels, eval_labels, ALL_LABELS),
        "label_counts": {
            "train": {label: train_labels.count(label) for label in ALL_LABELS},
            "eval": {label: eval_labels.count(label) for label in ALL_LABELS},
        },
        "accept_rate_by_level": {
            "train": rel.accept_rate_by_level(levels, train_labels),
            "eval": rel.accept_rate_by_level(levels, eval_labels),
        },
    }
    known = [i for i, label in enumerate(gold_list) if label is not None]
    if source is not None:
        report["gold"] = {"source": source, "n": len(known)}
        if known:
            gold_known = [gold_list[i] for i in known]
            report["gold"]["train"] = rel.against_gold([train_labels[i] for i in known], gold_known, LABELS)
            report["gold"]["eval"] = rel.against_gold([eval_labels[i] for i in known], gold_known, LABELS)
    return report, rows


#: The numbers declared as the DVC metric ``metrics/judges/cK.json``: few enough for
#: ``dvc exp show`` / ``dvc metrics diff``. The whole report is ``metrics/judges/details/cK.json``.
HEADLINE_KEYS = (
    "n", "train_judge", "eval_judge", "agreement", "kappa", "train_accept_rate", "eval_accept_rate",
    "gold_n", "train_gold_accuracy", "train_gold_macro_f1", "eval_gold_accuracy", "eval_gold_macro_f1",
)


def reliability_headline(report: dict) -> dict:
    """The headline of a reliability report (HEADLINE_KEYS; None where a figure does not exist)."""

    def accept_share(side: str):
        counts = report["label_counts"][side]
        total = sum(counts.values())
        return counts["Accept"] / total if total else None

    gold = report.get("gold") or {}
    return {
        "n": report["n"],
        "train_judge": report["train_judge"],
        "eval_judge": report["eval_judge"],
        "agreement": report["agreement"],
        "kappa": report["kappa"],
        "train_accept_rate": accept_share("train"),
        "eval_accept_rate": accept_share("eval"),
        "gold_n": gold.get("n"),
        "train_gold_accuracy": (gold.get("train") or {}).get("accuracy"),
        "train_gold_macro_f1": (gold.get("train") or {}).get("macro_f1"),
        "eval_gold_accuracy": (gold.get("eval") or {}).get("accuracy"),
        "eval_gold_macro_f1": (gold.get("eval") or {}).get("macro_f1"),
    }
