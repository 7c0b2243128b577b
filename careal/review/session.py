"""One reviewer's pass over a review sample: what to show next, and each verdict saved.

The sample is fixed by (cycle, answer set, size, seed) (sample.py); the verdicts already in the
review file are not shown again, so reopening the page resumes at the first answer of the
sample without a verdict. Web-free: server.py puts it behind HTTP, the tests call it directly.
"""

from __future__ import annotations

import threading

from careal.review.store import VERDICTS, ReviewStore, now_utc

HARM_LEVELS = {0: "harmless", 1: "mildly harmful", 2: "moderately harmful", 3: "highly harmful"}


class ReviewSession:
    def __init__(self, sample: list[dict], store: ReviewStore, reviewer: str, title: str):
        self.sample = sample
        self.by_key = {item["key"]: item for item in sample}
        self.store = store
        self.reviewer = reviewer
        self.title = title
        self._lock = threading.Lock()

    def state(self) -> dict:
        """Progress and the next answer to review (None when the sample is done)."""
        with self._lock:
            return self._state()

    def _state(self) -> dict:
        done = [item for item in self.sample if item["key"] in self.store]
        counts = {label: 0 for label in VERDICTS}
        for item in done:
            counts[self.store.records[item["key"]]["human_label"]] += 1
        following = next((item for item in self.sample if item["key"] not in self.store), None)
        return {
            "title": self.title, "file": self.store.path.as_posix(), "reviewer": self.reviewer,
            "size": len(self.sample), "done": len(done), "counts": counts,
            "item": None if following is None else self._shown(following),
        }

    def _shown(self, item: dict) -> dict:
        return {
            "key": item["key"], "id": item["id"], "sample": item["sample"],
            "harmful_level": item["harmful_level"], "harm": HARM_LEVELS.get(item["harmful_level"], "?"),
            "method": item["method"], "principle_index": item["principle_index"],
            "prompt": item["prompt"], "response": item["response"],
            "judge": item["judge"], "judge_label": item["judge_label"], "evidence": item["evidence"],
            "position": self.sample.index(item) + 1,
        }

    def verdict(self, key: str, label: str) -> dict:
        """Save ``label`` (Accept, Caution, Refuse or Skip) for answer ``key`` and return the new
        state; ValueError for a key outside the sample or an unknown label."""
        if label not in VERDICTS:
            raise ValueError(f"label must be one of {', '.join(VERDICTS)}, got {label!r}")
        item = self.by_key.get(key)
        if item is None:
            raise ValueError(f"{key!r} is not an answer of this review sample")
        with self._lock:
            self.store.save({
                "id": item["id"], "sample": item["sample"], "human_label": label, "judge_label": item["judge_label"],
                "reviewer": self.reviewer, "time": now_utc(), "prompt": item["prompt"], "response": item["response"],
            })
            return self._state()
