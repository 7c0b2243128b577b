"""The reviews as gold labels on real answers, for the stages that read them.

- ``judge_reliability@cK`` (``reviews_of`` + ``against_person``): every reviewed answer of
  reviews/cK-train.jsonl and reviews/cK-eval.jsonl is labelled by both judges (the pipeline
  runs them on the reviewed texts), and each judge is measured against the person: accuracy,
  macro-F1, Cohen's kappa, per-class figures and the confusion matrix (rows the judge, columns
  the person). The reviews hold the texts they were given on, so the figures stay right even if
  the answers were generated again.
- ``pair@cK`` with ``pair.review_overrides`` (``apply_overrides``): the person's label replaces
  the training judge's label of the same answer (same id, sample and text) before the labels
  become KTO rows and DPO pairs; counted in pair_stats.json.

Skipped answers (human_label Skip) are left out everywhere. Without any review file nothing
here changes an output.
"""

from __future__ import annotations

from pathlib import Path

from careal.metrics.reliability import against_gold, confusion_matrix
from careal.metrics.scoring import ALL_LABELS, LABELS
from careal.review.store import ANSWER_SETS, answer_key, labelled, read_reviews, review_path


def reviews_of(cycle: str, root: Path | str = ".") -> dict[str, list[dict]]:
    """The labelled reviews of cycle cK per answer set (only the sets that have some)."""
    found = {}
    for answers in ANSWER_SETS:
        records = labelled(read_reviews(review_path(cycle, answers, root)))
        if records:
            found[answers] = records
    return found


def _measure(judge: list[str], human: list[str]) -> dict:
    fit = against_gold(judge, human, LABELS)
    return {**fit, "confusion": confusion_matrix(judge, human, ALL_LABELS)}


def against_person(cycle: str, reviews: dict[str, list[dict]], labels: dict[str, dict[str, list[str]]]) -> dict:
    """Each judge against the person, per answer set and over both.

    ``labels[answers][judge]`` holds judge ``judge``'s (``train`` or ``eval``) labels of the
    reviews ``reviews[answers]``, in the same order."""
    out: dict = {}
    pooled: dict[str, list[str]] = {"train": [], "eval": [], "human": []}
    for answers, records in reviews.items():
        human = [r["human_label"] for r in records]
        out[answers] = {
            "source": review_path(cycle, answers).as_posix(),
            "n": len(records),
            "reviewers": sorted({r["reviewer"] for r in records}),
            **{f"{judge}_judge": _measure(labels[answers][judge], human) for judge in ("train", "eval")},
        }
        for judge in ("train", "eval"):
            pooled[judge] += labels[answers][judge]
        pooled["human"] += human
    out["all"] = {"n": len(pooled["human"]), **{f"{judge}_judge": _measure(pooled[judge], pooled["human"]) for judge in ("train", "eval")}}
    return out


def human_headline(human: dict) -> dict:
    """The numbers that join metrics/judges/cK.json's headline when reviews exist."""
    pooled = human["all"]
    return {
        "human_n": pooled["n"],
        "train_human_accuracy": pooled["train_judge"]["accuracy"],
        "train_human_kappa": pooled["train_judge"]["kappa"],
        "eval_human_accuracy": pooled["eval_judge"]["accuracy"],
        "eval_human_kappa": pooled["eval_judge"]["kappa"],
    }


def apply_overrides(items: list[dict], path: Path | str) -> tuple[list[dict], dict]:
    """The judged answers of a cycle (``pairing.join_judged``) with the person's label in place of
    the judge's wherever reviews/cK-train.jsonl has a verdict on the same answer, and the counts:
    ``reviews`` (labelled reviews in the file), ``applied`` (answers given the person's label),
    ``changed`` (of those, with a label other than the judge's), ``stale`` (reviews whose answer
    is not in the cycle's generations with the same text: left out)."""
    records = labelled(read_reviews(path))
    human = {answer_key(r["id"], r["sample"]): r for r in records}
    out, applied, changed = [], 0, 0
    for item in items:
        review = human.get(answer_key(item["id"], item["sample"]))
        if review is not None and review["response"] == item["response"]:
            applied += 1
            changed += review["human_label"] != item["label"]
            item = {**item, "label": review["human_label"]}
        out.append(item)
    return out, {"file": Path(path).as_posix(), "reviews": len(records), "applied": applied, "changed": changed, "stale": len(records) - applied}
