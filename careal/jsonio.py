"""JSON Lines and JSON files, written atomically.

Every output is written to a temporary sibling and renamed into place only when complete, so
a crashed stage never leaves a file behind that DVC (or a person) could take for finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator

import jsonlines

from careal.errors import DataError
from careal.outputs import current as current_output_set
from careal.outputs import move_into_place, resolve, temp_sibling


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate!r} in one object")
    return dict(pairs)


def parse_jsonl_line(line: str):
    """One JSON Lines record as a dict; ValueError (with a short reason) otherwise."""
    try:
        record = json.loads(line, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got a JSON {type(record).__name__}")
    return record


def decode_utf8(path: Path, data: bytes) -> str:
    """Bytes as UTF-8 text (a leading byte-order mark is dropped); a DataError naming the line
    of the first invalid byte otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """All records of a JSON Lines file; a line that is not a JSON object is a DataError."""
    path = Path(path)
    real = resolve(path)
    if not real.exists():
        raise DataError(path, None, None, "file not found")
    text = decode_utf8(path, real.read_bytes())
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(parse_jsonl_line(line))
        except ValueError as exc:
            raise DataError(path, number, None, str(exc)) from None
    return records


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success.

    Inside a stage's output set (``careal.outputs``) the rename waits for the whole set."""
    path = Path(path)
    tmp = temp_sibling(path, directory=False)
    try:
        yield tmp
        active = current_output_set()
        if active is not None:
            active.register(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` only on success
    (inside an output set: when the whole set is committed)."""
    path = Path(path)
    tmp = temp_sibling(path, directory=True)
    try:
        yield tmp
        active = current_output_set()
        if active is not None:
            active.register(tmp, path)
        else:
            move_into_place(tmp, path)
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp)
        raise


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
    real = resolve(path)
    if not real.exists():
        raise DataError(path, None, None, "file not found")
    try:
        return json.loads(decode_utf8(path, real.read_bytes()))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
