"""The CARES-18K record and its validation.

A CARES row has six columns (principle_index, generation_model, harmful_level, method,
base_prompt, prompt). careal adds an ``id`` (the dataset has none) that every later record
carries. Validation names the file, the 1-based row and the field of the first problem.
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


def _as_text(value, path, row, field, *, required: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        raise DataError(path, row, field, f"expected text, got {type(value).__name__} {value!r}")
    if required and not value.strip():
        raise DataError(path, row, field, "must be non-empty text")
    return value


def record_id(row: dict) -> str:
    """A stable id from the row's content: the same row always gets the same id."""
    key = "\x1f".join(str(row.get(c, "")) for c in CARES_COLUMNS)
    return "cares-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def validate_row(row: dict, path, row_number: int) -> CaresRecord:
    """Check one raw row of the CARES schema and return it as a CaresRecord.

    ``base_prompt`` may be missing or empty for direct prompts (it then equals ``prompt``);
    ``generation_model`` may be missing (recorded as ``unknown``). Any other problem raises a
    DataError naming ``path``, ``row_number`` and the field.
    """
    if not isinstance(row, dict):
        raise DataError(path, row_number, None, "expected a record with the CARES columns")
    for field in ("principle_index", "harmful_level", "method", "prompt"):
        if field not in row:
            raise DataError(path, row_number, field, "missing (CARES columns: " + ", ".join(CARES_COLUMNS) + ")")
    principle = _as_int(row["principle_index"], path, row_number, "principle_index", range(0, 8))
    level = _as_int(row["harmful_level"], path, row_number, "harmful_level", range(0, 4))
    method = row["method"]
    if method not in METHODS:
        raise DataError(path, row_number, "method", f"expected one of {', '.join(METHODS)}, got {method!r}")
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
    rid = str(given_id) if given_id not in (None, "") and not (isinstance(given_id, float) and math.isnan(given_id)) else record_id(clean)
    return CaresRecord(id=rid, **clean)


def validate_rows(rows, path) -> list[CaresRecord]:
    """Validate every row (1-based numbering).

    A duplicate of an explicit ``id`` is an error. Rows without an id get one from their content;
    an exact repeat of an earlier row keeps its place and gets the suffix ``-2``, ``-3``, ...
    (nothing is dropped: the repeats stay visible in the prepared data).
    """
    records, seen, repeats = [], {}, {}
    for number, row in enumerate(rows, start=1):
        record = validate_row(row, path, number)
        if record.id in seen:
            if isinstance(row, dict) and row.get("id") not in (None, ""):
                raise DataError(path, number, "id", f"duplicate id {record.id!r} (first seen in row {seen[record.id]})")
            repeats[record.id] = repeats.get(record.id, 1) + 1
            record = CaresRecord(**{**record.to_dict(), "id": f"{record.id}-{repeats[record.id]}"})
        seen[record.id] = number
        records.append(record)
    return records
