"""Judges: label each (prompt, answer) pair Accept / Caution / Refuse, or Unparsed.

Every judge kind lives in its own module and offers the same interface (``base.Judge``):
``kind``, ``identity`` (kind, model, revision, rubric hash) and ``label_batch(pairs)``, which
returns one (label, evidence) per (prompt, response) pair. ``make_judge`` builds the judge that
a params.yaml judge spec asks for; ``judge_records`` runs it over generation records and
normalises what it says (``scoring.normalize_label``: "Reject" is Refuse, anything that is not
a careal label is Unparsed), so that no other label ever reaches pairing or metrics.
"""

from __future__ import annotations

from careal.errors import CarealError
from careal.judges.base import Judge
from careal.judges.rules import RulesJudge
from careal.scoring import normalize_label

__all__ = ["Judge", "RulesJudge", "make_judge", "judge_records"]

KINDS = ("rules",)


def make_judge(spec) -> Judge:
    """The judge a JudgeSpec (params.yaml ``judge.train`` / ``judge.eval``) asks for."""
    if spec.kind == "rules":
        return RulesJudge()
    raise CarealError(f"params.yaml: judge kind {spec.kind!r} is not available (available: {', '.join(KINDS)})")


def judge_records(judge: Judge, generations: list[dict]) -> list[dict]:
    """One judgment record per generation record (same id and sample), labels normalised."""
    from tqdm.auto import tqdm

    identity = judge.identity
    out = []
    batch = 256
    with tqdm(total=len(generations), desc=f"judging ({judge.kind})", unit="answer", disable=len(generations) < 2000) as bar:
        for start in range(0, len(generations), batch):
            chunk = generations[start : start + batch]
            verdicts = judge.label_batch([(g["prompt"], g["response"]) for g in chunk])
            for g, (label, raw) in zip(chunk, verdicts):
                normalised = normalize_label(label)
                if normalised != label:
                    raw = {**raw, "judge_said": label}
                out.append({"id": g["id"], "sample": g["sample"], "label": normalised, "judge": identity, "raw": raw})
            bar.update(len(chunk))
    return out
