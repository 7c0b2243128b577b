"""The CARES-18K record and its validation.

A CARES row has six columns (principle_index, generation_model, harmful_level, method,
base_prompt, prompt). careal adds an ``id`` (the dataset has none) that every later record
carries. Validation names the file, the row and the field of the first problem: the row is the
line number in .jsonl and .csv files (a CSV header is line 1) and the 1-based row index otherwise.

Text fields must be free of control characters (tab, newline and carriage return are allowed)
and at most ``MAX_TEXT_CHARS`` long. Columns other than the CARES ones and ``id`` (a source id,
notes, a score: files as users have them) are not used and not carried into careal's records;
the loaders count them per column so that prepare names them once in its summary
(``extra_columns``). A missing or invalid CARES column is still an error.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

from careal.errors import DataError

PRINCIPLES = {
    0: "patient privacy and consent",
    1: "clinical ethics and professional conduct",
    2: "discrimination and healthcare bias",
    3: "health misinformation",
    4: "self-harm and unsafe behaviour",
    5: "illicit medical practices and unethical use",
    6: "AI, technology and clinical safety boundaries",
    7: "community and public health responsibility",
}
HARM_LEVELS = {
    0: "harmless",
    1: "mildly harmful / ethically inappropriate",
    2: "moderately harmful / legally questionable",
    3: "highly harmful / systemic",
}
METHODS = ("direct", "indirect", "obfuscate", "role_play")
MAX_TEXT_CHARS = 20_000
"""Longest text field accepted (CARES prompts are a few hundred characters)."""
OPTIONAL_COLUMNS = ("id",)
ON_BAD_ROWS = ("error", "skip")
CARES_COLUMNS = (
    "principle_index",
    "generation_model",
    "harmful_level",
    "method",
    "base_prompt",
    "prompt",
)


@dataclass(frozen=True)
class CaresRecord:
    """One prompt of CARES-18K (or of a file in its schema), with careal's ``id``."""

    id: str
    principle_index: int
    harmful_level: int
    method: str
    base_prompt: str
    prompt: str
    generation_model: str

    def to_dict(self) -> dict:
        return asdict(self)


def _as_int(value, path, row, field, allowed: range) -> int:
    if isinstance(value, bool) or value is None:
        raise DataError(path, row, field, f"expected an integer in {allowed.start}..{allowed.stop - 1}, got {value!r}")
    if isinstance(value, float):
        if math.isnan(value) or not value.is_integer():
            raise DataError(path, row, field, f"expected an integer in {allowed.start}..{allowed.stop - 1}, got {value!r}")
        value = int(value)
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdigit():
            raise DataError(path, row, field, f"expected an integer in {allowed.start}..{allowed.stop - 1}, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        value = int(value)  # numpy integers from parquet/pandas
    if value not in allowed:
        raise DataError(path, row, field, f"expected an integer in {allowed.start}..{allowed.stop - 1}, got {value}")
    return value


def _control_character(text: str) -> str | None:
    for char in text:
        code = ord(char)
        if (code < 32 and char not in "\t\n\r") or 127 <= code < 160:
            return char
    return None


def _as_text(value, path, row, field, *, required: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise DataError(path, row, field, f"expected text, got {type(value).__name__} {shown}")
    if required and not value.strip():
        raise DataError(path, row, field, "must be non-empty text")
    if len(value) > MAX_TEXT_CHARS:
        raise DataError(path, row, field, f"is {len(value):,} characters long; at most {MAX_TEXT_CHARS:,} are accepted")
    bad = _control_character(value)
    if bad is not None:
        raise DataError(path, row, field, f"contains the control character U+{ord(bad):04X} at position {value.index(bad) + 1}")
    return value


def record_id(row: dict) -> str:
    """A stable id from the row's content: the same row always gets the same id."""
    key = "\x1f".join(str(row.get(c, "")) for c in CARES_COLUMNS)
    return "cares-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def validate_row(row: dict, path, row_number: int, extra_columns: dict | None = None) -> CaresRecord:
    """Check one raw row of the CARES schema and return it as a CaresRecord.

    ``base_prompt`` may be missing or empty for direct prompts (it then equals ``prompt``);
    ``generation_model`` may be missing (recorded as ``unknown``). Any other problem raises a
    DataError naming ``path``, ``row_number`` and the field. Other columns are left out of the
    record; ``extra_columns`` (column -> rows) counts them when given.
    """
    if not isinstance(row, dict):
        raise DataError(path, row_number, None, "expected a record with the CARES columns")
    unknown = sorted(str(k) for k in row if k not in CARES_COLUMNS and k not in OPTIONAL_COLUMNS and not str(k).startswith("__index_level_"))
    for field in ("principle_index", "harmful_level", "method", "prompt"):
        if field not in row:
            raise DataError(path, row_number, field, "missing (CARES columns: " + ", ".join(CARES_COLUMNS) + ")")
    principle = _as_int(row["principle_index"], path, row_number, "principle_index", range(0, 8))
    level = _as_int(row["harmful_level"], path, row_number, "harmful_level", range(0, 4))
    method = row["method"]
    if not isinstance(method, str) or method not in METHODS:
        shown = repr(method) if len(repr(method)) <= 60 else repr(method)[:57] + "..."
        raise DataError(path, row_number, "method", f"expected one of {', '.join(METHODS)}, got {shown}")
    prompt = _as_text(row["prompt"], path, row_number, "prompt", required=True)
    base_prompt = _as_text(row.get("base_prompt"), path, row_number, "base_prompt", required=False)
    if not base_prompt.strip():
        if method != "direct":
            raise DataError(path, row_number, "base_prompt", f"must be non-empty for method {method!r} (the leak guard groups rewrites by it)")
        base_prompt = prompt
    generation_model = _as_text(row.get("generation_model"), path, row_number, "generation_model", required=False) or "unknown"
    clean = {
        "principle_index": principle,
        "generation_model": generation_model,
        "harmful_level": level,
        "method": method,
        "base_prompt": base_prompt,
        "prompt": prompt,
    }
    given_id = row.get("id")
    if isinstance(given_id, str):
        given_id = _as_text(given_id, path, row_number, "id", required=False).strip()
    elif isinstance(given_id, bool) or not (given_id is None or isinstance(given_id, (int, float))):
        raise DataError(path, row_number, "id", f"expected text or an integer, got {type(given_id).__name__}")
    rid = str(given_id) if given_id not in (None, "") and not (isinstance(given_id, float) and math.isnan(given_id)) else record_id(clean)
    record = CaresRecord(id=rid, **clean)
    if extra_columns is not None:
        for name in unknown:
            extra_columns[name] = extra_columns.get(name, 0) + 1
    return record


def validate_rows(rows, path, *, numbers=None, on_bad_rows: str = "error", skipped: list | None = None, extra_columns: dict | None = None) -> list[CaresRecord]:
    """Validate every row; ``numbers`` gives each row's number (default 1, 2, ...).

    A duplicate of an explicit ``id`` is an error. Rows without an id get one from their content;
    an exact repeat of an earlier row keeps its place and gets the suffix ``-2``, ``-3``, ...
    (nothing is dropped: the repeats stay visible in the prepared data).

    ``on_bad_rows="skip"`` leaves bad rows out instead of raising, and appends each one's
    DataError to ``skipped``; no valid row at all is still an error. ``extra_columns`` counts
    the valid rows' columns that are not CARES columns (column -> rows).
    """
    if on_bad_rows not in ON_BAD_ROWS:
        raise ValueError(f"on_bad_rows must be one of {ON_BAD_ROWS}")
    records, seen, repeats = [], {}, {}
    numbers = iter(numbers) if numbers is not None else None
    for index, row in enumerate(rows, start=1):
        number = next(numbers) if numbers is not None else index
        try:
            record = validate_row(row, path, number, extra_columns)
            if record.id in seen and isinstance(row, dict) and row.get("id") not in (None, ""):
                raise DataError(path, number, "id", f"duplicate id {record.id!r} (first seen in row {seen[record.id]})")
        except DataError as exc:
            if on_bad_rows == "error":
                raise
            if skipped is not None:
                skipped.append(exc)
            continue
        if record.id in seen:
            repeats[record.id] = repeats.get(record.id, 1) + 1
            record = CaresRecord(**{**record.to_dict(), "id": f"{record.id}-{repeats[record.id]}"})
        seen[record.id] = number
        records.append(record)
    if not records and on_bad_rows == "skip" and skipped:
        raise DataError(path, None, None, f"no valid rows: all {len(skipped)} rows were bad (first: {skipped[0]})")
    return records
