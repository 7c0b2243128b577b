"""The answer cache of the server backends: finished answers, keyed by everything that made
them, so a killed generate or evaluate stage reruns only the answers it had not got yet.

The key is sha256 of (backend identity: kind, base_url, served model; the careal policy:
name, base and adapter hashes; the request: messages, seed, id, sample; the decoding: temperature,
top_p, max_tokens). A policy retrained with the same name has a new adapter hash, so an old
answer never stands in for it. The value is the answer's text and finish reason.

Like the judge cache (careal/judges/cache.py) it is a local SQLite file
(``.careal/answer-cache.sqlite``, gitignored) and never a DVC output: every output is the same
with or without it. ``CAREAL_ANSWER_CACHE`` overrides the place (``0`` / ``off`` turns it off);
``cache: false`` in a backend's options turns it off for that backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

DEFAULT_PATH = Path(".careal") / "answer-cache.sqlite"
ENV = "CAREAL_ANSWER_CACHE"


def cache_path() -> Path | None:
    value = os.environ.get(ENV)
    if value is None or value == "":
        return DEFAULT_PATH
    if value.lower() in ("0", "off", "false", "no"):
        return None
    return Path(value)


def answer_key(identity: dict, request: dict) -> str:
    blob = json.dumps([identity, request], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """A SQLite table key -> answer JSON, safe to write from the request threads."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                for key, answer in self._db.execute(f"SELECT key, answer FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk):
                    found[key] = json.loads(answer)
        return found

    def put(self, key: str, answer: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)", (key, json.dumps(answer, ensure_ascii=False)))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.commit()
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_cache(enabled: bool = True) -> AnswerCache | None:
    path = cache_path()
    if not enabled or path is None:
        return None
    return AnswerCache(path)
