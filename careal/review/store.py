"""The review files: a person's verdicts on a cycle's answers, kept under git.

``reviews/<cycle>-<answers>.jsonl`` (answers ``eval``: data/eval/<cycle>/answers.jsonl, the
policy's greedy answers on the eval split; ``train``: data/cycles/<cycle>/generations.jsonl,
the answers that became the cycle's preference data). One record per reviewed answer, in the
order the verdicts were given:

    {"id": ..., "sample": 0, "human_label": "Refuse", "judge_label": "Accept",
     "reviewer": "ana", "time": "2026-01-01T12:00:00Z", "prompt": ..., "response": ...}

``human_label`` is Accept, Caution or Refuse, or Skip (looked at, no verdict: left out of every
figure and not shown again). ``judge_label`` is the label the reviewer was shown. ``prompt``
and ``response`` are the texts reviewed, so a review stays meaningful (and a stale one can be
told apart) if the answers are generated again. A second verdict on the same answer replaces
the first. Every verdict rewrites the file through ``careal.jsonio`` (temporary sibling, then
rename), so a killed process leaves the file as it was before or after the verdict.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from careal.errors import DataError
from careal.jsonio import read_jsonl, write_jsonl
from careal.layout import REVIEWS

ANSWER_SETS = ("eval", "train")
HUMAN_LABELS = ("Accept", "Caution", "Refuse")
SKIP = "Skip"
VERDICTS = HUMAN_LABELS + (SKIP,)
JUDGE_LABELS = ("Accept", "Caution", "Refuse", "Unparsed")
FIELDS = ("id", "sample", "human_label", "judge_label", "reviewer", "time", "prompt", "response")


def review_path(cycle: str, answers: str, root: Path | str = ".") -> Path:
    """reviews/<cycle>-<answers>.jsonl under ``root``."""
    if answers not in ANSWER_SETS:
        raise ValueError(f"answers must be one of {', '.join(ANSWER_SETS)}, got {answers!r}")
    return Path(root) / REVIEWS / f"{cycle}-{answers}.jsonl"


def answer_key(record_id: str, sample: int) -> str:
    """The key of one answer: its prompt id and sample number."""
    return f"{record_id}#{sample}"


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_review(record: dict, path, row: int | None) -> dict:
    """One review record, checked field by field (DataError naming file, row and field)."""
    for name in FIELDS:
        if name not in record:
            raise DataError(path, row, name, "missing")
    for name in ("id", "reviewer", "time", "prompt", "response"):
        if not isinstance(record[name], str):
            raise DataError(path, row, name, f"must be a string, got {type(record[name]).__name__}")
    if not isinstance(record["sample"], int) or isinstance(record["sample"], bool) or record["sample"] < 0:
        raise DataError(path, row, "sample", f"must be a whole number >= 0, got {record['sample']!r}")
    if record["human_label"] not in VERDICTS:
        raise DataError(path, row, "human_label", f"must be one of {', '.join(VERDICTS)}, got {record['human_label']!r}")
    if record["judge_label"] not in JUDGE_LABELS:
        raise DataError(path, row, "judge_label", f"must be one of {', '.join(JUDGE_LABELS)}, got {record['judge_label']!r}")
    extra = sorted(set(record) - set(FIELDS))
    if extra:
        raise DataError(path, row, extra[0], f"unknown field (a review holds {', '.join(FIELDS)})")
    return record


def read_reviews(path: Path | str) -> list[dict]:
    """The records of a review file, checked; [] when the file does not exist. A second record
    for the same answer is an error here (``ReviewStore`` replaces, it never appends twice)."""
    path = Path(path)
    if not path.exists():
        return []
    seen: dict[str, int] = {}
    records = []
    for number, record in enumerate(read_jsonl(path), start=1):
        check_review(record, path, number)
        key = answer_key(record["id"], record["sample"])
        if key in seen:
            raise DataError(path, number, "id", f"second review of id {record['id']!r} sample {record['sample']} (first in row {seen[key]})")
        seen[key] = number
        records.append(record)
    return records


def labelled(records: list[dict]) -> list[dict]:
    """The reviews that carry a human label (Skip left out)."""
    return [r for r in records if r["human_label"] in HUMAN_LABELS]


class ReviewStore:
    """The verdicts of one review file, saved atomically one by one."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.records = {answer_key(r["id"], r["sample"]): r for r in read_reviews(self.path)}

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def save(self, record: dict) -> dict:
        """Add (or replace) one verdict and write the whole file before returning."""
        check_review(record, self.path, None)
        key = answer_key(record["id"], record["sample"])
        self.records.pop(key, None)
        self.records[key] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(self.path, self.records.values())
        return record
