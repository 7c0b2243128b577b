"""JSON Lines and JSON files, written atomically.

Every output is written to a temporary sibling and renamed into place only when complete, so
a crashed stage never leaves a file behind that DVC (or a person) could take for finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import jsonlines

from careal.errors import DataError


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All records of a JSON Lines file; a line that is not a JSON object is a DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, number, None, f"not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(path, number, None, "expected a JSON object")
            records.append(record)
    return records


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records, one compact JSON object per line (keys in insertion order); return count."""
    count = 0
    with atomic_path(path) as tmp:
        with jsonlines.open(tmp, mode="w", compact=True, sort_keys=False) as writer:
            for record in records:
                writer.write(record)
                count += 1
    return count


def write_json(path: str | os.PathLike, obj) -> None:
    """Write one JSON document, indented and with a trailing newline (stable bytes)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
