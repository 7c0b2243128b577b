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
from pathlib import Path

from careal.sqlite_cache import JsonTable
from careal.sqlite_cache import cache_path as _cache_path

DEFAULT_PATH = Path(".careal") / "judge-cache.sqlite"
ENV = "CAREAL_JUDGE_CACHE"


def cache_path() -> Path | None:
    """Where the cache lives, or None when the environment turns it off."""
    return _cache_path(ENV, DEFAULT_PATH)


def verdict_key(identity: dict, prompt: str, response: str) -> str:
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False) + "\0" + prompt + "\0" + response
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache(JsonTable):
    """Verdicts ``(label, evidence)`` by key (careal/sqlite_cache.py). Use as a context manager."""

    def __init__(self, path):
        super().__init__(path, "verdicts", "verdict")

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, dict]]:
        return {key: (label, raw) for key, (label, raw) in super().get_many(keys).items()}

    def put_many(self, items: list[tuple[str, tuple[str, dict]]]) -> None:
        super().put_many((key, list(verdict)) for key, verdict in items)


def open_cache(enabled: bool = True) -> JudgeCache | None:
    """The cache to use, or None (turned off by params or by CAREAL_JUDGE_CACHE)."""
    path = cache_path()
    if not enabled or path is None:
        return None
    return JudgeCache(path)
