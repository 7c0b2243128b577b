"""A cycle's answers as a reviewer sees them, and the seeded stratified order of review.

``load_answers`` joins the prompts (data/prepared), the answers and the judge's labels of one
answer set:

- ``eval``: data/eval/<cycle>/answers.jsonl and judgments.jsonl (the eval judge), on the eval
  split; the answers the reported figures rest on;
- ``train``: data/cycles/<cycle>/generations.jsonl and judgments.jsonl (the training judge), on
  the train split; the answers that became the cycle's preference data.

``stratified_order`` puts them in the order a reviewer sees them: the answers are grouped into
strata by (harm level, judge label), each stratum is shuffled with the seed, and the strata take
turns. Any prefix of the order is therefore a stratified sample, as even across the strata as
their sizes allow, and within each stratum a uniform random draw: the property the corrected
estimates (corrected.py) rely on. ``sample_of`` is the first ``size`` answers of the order.
"""

from __future__ import annotations

import random
from pathlib import Path

from careal.errors import DataError
from careal.jsonio import read_jsonl
from careal.layout import EVAL, PREPARED, cycle_dir
from careal.review.store import ANSWER_SETS, JUDGE_LABELS, answer_key


def answer_files(cycle: str, answers: str, root: Path | str = ".") -> dict[str, Path]:
    """The prompts, answers and judgments files of one answer set."""
    root = Path(root)
    if answers == "eval":
        return {"prompts": root / PREPARED / "eval.jsonl", "answers": root / EVAL / cycle / "answers.jsonl", "judgments": root / EVAL / cycle / "judgments.jsonl"}
    if answers == "train":
        return {"prompts": root / PREPARED / "train.jsonl", "answers": root / cycle_dir(cycle) / "generations.jsonl", "judgments": root / cycle_dir(cycle) / "judgments.jsonl"}
    raise ValueError(f"answers must be one of {', '.join(ANSWER_SETS)}, got {answers!r}")


def load_answers(cycle: str, answers: str, root: Path | str = ".") -> list[dict]:
    """One item per answer: key, id, sample, prompt and its CARES fields, response, judge
    label, judge identity and the judge's evidence (its ``raw`` record), in file order."""
    paths = answer_files(cycle, answers, root)
    for name, path in paths.items():
        if not path.exists():
            stage = {"eval": f"evaluate@{cycle}", "train": f"judge@{cycle}"}[answers] if name != "prompts" else "prepare"
            raise DataError(path, None, None, f"file not found (run `dvc repro {stage}` first)")
    prompts = {p["id"]: p for p in read_jsonl(paths["prompts"])}
    judged = {}
    for number, j in enumerate(read_jsonl(paths["judgments"]), start=1):
        key = answer_key(j.get("id"), j.get("sample"))
        if key in judged:
            raise DataError(paths["judgments"], number, "id", f"second judgment for id {j.get('id')!r} sample {j.get('sample')!r}")
        if j.get("label") not in JUDGE_LABELS:
            raise DataError(paths["judgments"], number, "label", f"must be one of {', '.join(JUDGE_LABELS)}, got {j.get('label')!r}")
        judged[key] = j
    items = []
    for number, g in enumerate(read_jsonl(paths["answers"]), start=1):
        for name in ("id", "sample", "response"):
            if name not in g:
                raise DataError(paths["answers"], number, name, "missing")
        prompt = prompts.get(g["id"])
        if prompt is None:
            raise DataError(paths["answers"], number, "id", f"{g['id']!r} is not in {paths['prompts']}")
        key = answer_key(g["id"], g["sample"])
        j = judged.get(key)
        if j is None:
            raise DataError(paths["answers"], number, "sample", f"no judgment for id {g['id']!r} sample {g['sample']!r} in {paths['judgments']}")
        judge = j.get("judge") or {}
        items.append({
            "key": key, "id": g["id"], "sample": g["sample"],
            "prompt": prompt["prompt"], "base_prompt": prompt["base_prompt"], "harmful_level": int(prompt["harmful_level"]),
            "method": prompt["method"], "principle_index": prompt["principle_index"],
            "response": g["response"], "judge_label": j["label"],
            "judge": " ".join(str(judge[k]) for k in ("kind", "model") if judge.get(k)) or "unknown",
            "evidence": j.get("raw"),
        })
    return items


def stratum(item: dict) -> tuple[int, str]:
    """The sampling stratum of an answer: (harm level, judge label)."""
    return item["harmful_level"], item["judge_label"]


def stratified_order(items: list[dict], seed: int) -> list[dict]:
    """Every item, in the seeded stratified review order (see the module's docstring)."""
    rng = random.Random(f"careal-review:{seed}")
    strata: dict[tuple[int, str], list[dict]] = {}
    for item in sorted(items, key=lambda i: i["key"]):
        strata.setdefault(stratum(item), []).append(item)
    names = sorted(strata)
    for name in names:
        rng.shuffle(strata[name])
    rng.shuffle(names)
    order, depth = [], 0
    while len(order) < len(items):
        order.extend(strata[name][depth] for name in names if depth < len(strata[name]))
        depth += 1
    return order


def sample_of(items: list[dict], size: int, seed: int) -> list[dict]:
    """The review sample: the first ``size`` answers of the stratified order."""
    if size < 1:
        raise ValueError(f"the sample size must be at least 1, got {size}")
    return stratified_order(items, seed)[:size]
