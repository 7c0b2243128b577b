"""``careal label``: any judge over a JSONL file of ``id``, ``prompt``, ``response`` records,
outside the pipeline; one output record per input: ``id``, ``label``, ``judge``, ``raw``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from careal.errors import CarealError, DataError
from careal.jsonio import read_jsonl, write_jsonl


def parse_label_words(items) -> dict | None:
    """``("yes=Refuse", "no=Accept")`` -> ``{"yes": "Refuse", "no": "Accept"}``."""
    if not items:
        return None
    words = {}
    for item in items:
        word, sep, label = item.partition("=")
        if not sep or not word:
            raise CarealError(f"--label-word {item!r}: expected WORD=LABEL, e.g. yes=Refuse")
        words[word] = label
    return words


def read_answers(path) -> list[dict]:
    """The input records, checked: id present, prompt and response strings."""
    path = Path(path)
    records = read_jsonl(path)
    for number, row in enumerate(records, start=1):
        if "id" not in row or row["id"] is None:
            raise DataError(path, number, "id", "missing")
        for field in ("prompt", "response"):
            if not isinstance(row.get(field), str):
                raise DataError(path, number, field, "missing or not a string")
    return records


def label_file(kind: str, input_path, output_path, *, options: dict, policy_path=None, base_path="models/base", use_cache: bool = True) -> dict:
    """Label ``input_path`` into ``output_path``; returns label counts, judged and cache_hits."""
    from careal.judges import judge_pairs, make_judge
    from careal.judges.spec import JudgeSpec

    options = dict(options)
    options["label_words"] = parse_label_words(options.get("label_words"))
    spec = JudgeSpec(kind=kind, **{k: v for k, v in options.items() if v is not None})
    spec.check("--")
    if kind == "self" and policy_path is None:
        raise CarealError("careal label --judge self needs --policy (the policy that wrote the answers, e.g. models/c1)")
    if kind != "self" and policy_path is not None:
        raise CarealError(f"--policy applies to --judge self only, not {kind}")
    records = read_answers(input_path)
    judge = make_judge(spec, base_dir=base_path, policy_dir=policy_path) if kind == "self" else make_judge(spec)
    stats: dict = {}
    verdicts = judge_pairs(judge, [(r["prompt"], r["response"]) for r in records], use_cache=use_cache and spec.cache, stats=stats, desc=f"label ({kind})")
    identity = judge.identity
    write_jsonl(output_path, ({"id": r["id"], "label": label, "judge": identity, "raw": raw} for r, (label, raw) in zip(records, verdicts)))
    return {**dict(Counter(label for label, _ in verdicts)), **stats}
