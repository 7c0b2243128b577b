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
from pathlib import Path

from careal.sqlite_cache import JsonTable
from careal.sqlite_cache import cache_path as _cache_path

DEFAULT_PATH = Path(".careal") / "answer-cache.sqlite"
ENV = "CAREAL_ANSWER_CACHE"


def cache_path() -> Path | None:
    return _cache_path(ENV, DEFAULT_PATH)


def answer_key(identity: dict, request: dict) -> str:
    blob = json.dumps([identity, request], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache(JsonTable):
    """Answers ``{"text", "finish_reason"}`` by key (careal/sqlite_cache.py), safe to write from
    the request threads."""

    def __init__(self, path):
        super().__init__(path, "answers", "answer")

    def put(self, key: str, answer: dict) -> None:
        self.put_many([(key, answer)])


def open_cache(enabled: bool = True) -> AnswerCache | None:
    path = cache_path()
    if not enabled or path is None:
        return None
    return AnswerCache(path)
