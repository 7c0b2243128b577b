"""What careal's two local caches share: a SQLite table key -> JSON value.

The judge cache (careal/judges/cache.py: verdicts) and the server backends' answer cache
(careal/policy/answer_cache.py: answers) are each a gitignored SQLite file under ``.careal/``,
placed or turned off by an environment variable, and never a DVC output: every output is the
same with or without them. Each keeps its own file, table, key and value shape; this module
holds the storage they have in common. Writes may come from request threads (one lock).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

OFF = ("0", "off", "false", "no")
CHUNK = 500
"""Keys per SELECT (SQLite limits the parameters of one statement)."""


def cache_path(env: str, default: Path) -> Path | None:
    """Where a cache lives: ``default``, or the file named by the variable ``env``; None when
    that variable turns it off (0, off, false, no)."""
    value = os.environ.get(env)
    if value is None or value == "":
        return default
    if value.lower() in OFF:
        return None
    return Path(value)


class JsonTable:
    """One SQLite table ``key -> JSON text``. Use as a context manager (commits and closes)."""

    def __init__(self, path: str | os.PathLike, table: str, column: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._table, self._column = table, column
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, {column} TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """The stored values of those keys that are present, decoded."""
        found = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), CHUNK):
                chunk = unique[start : start + CHUNK]
                query = f"SELECT key, {self._column} FROM {self._table} WHERE key IN ({','.join('?' * len(chunk))})"
                for key, value in self._db.execute(query, chunk):
                    found[key] = json.loads(value)
        return found

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Store (key, value) pairs, replacing older values, and commit."""
        rows = [(key, json.dumps(value, ensure_ascii=False)) for key, value in items]
        with self._lock:
            self._db.executemany(f"INSERT OR REPLACE INTO {self._table} (key, {self._column}) VALUES (?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.commit()
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
