"""The judge cache: verdicts keyed by (judge identity, prompt, response), shared across cycles
and stages, so an answer is judged once per judge.

The judge identity holds the kind, the model (and its revision or content hash), the rubric
template's sha256, the label words and the margin: change any of them and the old verdicts no
longer apply. The cache is a local SQLite file (``.careal/judge-cache.sqlite`` under the
project root, gitignored), never a DVC output: it only saves time, every output is the same
with or without it. A verdict is stored as the JSON of (label, evidence) and read back to the
same Python values, so a judgment record written from the cache is byte-identical to a
recomputed one.

``CAREAL_JUDGE_CACHE`` overrides the place: ``0`` / ``off`` turns the cache off everywhere, any
other value is the SQLite file to use. ``cache: false`` in a judge's params turns it off for
that judge.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

DEFAULT_PATH = Path(".careal") / "judge-cache.sqlite"
ENV = "CAREAL_JUDGE_CACHE"


def cache_path() -> Path | None:
    """Where the cache lives, or None when the environment turns it off."""
    value = os.environ.get(ENV)
    if value is None or value == "":
        return DEFAULT_PATH
    if value.lower() in ("0", "off", "false", "no"):
        return None
    return Path(value)


def verdict_key(identity: dict, prompt: str, response: str) -> str:
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False) + "\0" + prompt + "\0" + response
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """A SQLite table key -> verdict JSON. Use as a context manager (commits on exit)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, dict]]:
        found = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._db.execute(f"SELECT key, verdict FROM verdicts WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            for key, verdict in rows:
                label, raw = json.loads(verdict)
                found[key] = (label, raw)
        return found

    def put_many(self, items: list[tuple[str, tuple[str, dict]]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO verdicts (key, verdict) VALUES (?, ?)", [(k, json.dumps(list(v), ensure_ascii=False)) for k, v in items])
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_cache(enabled: bool = True) -> JudgeCache | None:
    """The cache to use, or None (turned off by params or by CAREAL_JUDGE_CACHE)."""
    path = cache_path()
    if not enabled or path is None:
        return None
    return JudgeCache(path)
