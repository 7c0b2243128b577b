"""Reading CARES-format prompts from a source into validated records (careal.data.schema).

Sources (``data.source`` in params.yaml):
- ``builtin``: careal's synthetic CARES-format set (``careal.data.synthetic``), made from the seed;
- a local ``.jsonl``, ``.parquet`` or ``.csv`` file in the CARES schema;
- ``hf:<id or folder>``: a Hugging Face dataset (e.g. ``hf:HFXM/CARES-18K``) or a local
  dataset folder, loaded with ``datasets.load_dataset``.

How they are split into train and eval: careal.data.split.
"""

from __future__ import annotations

from pathlib import Path

from careal.data.schema import CaresRecord, validate_rows
from careal.errors import CarealError, DataError

FILE_SUFFIXES = (".jsonl", ".parquet", ".csv")


def _read_jsonl_rows(path: Path, text: str) -> tuple[list[tuple[int, dict]], list[DataError]]:
    from careal.jsonio import parse_jsonl_line

    rows, bad = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, parse_jsonl_line(line)))
        except ValueError as exc:
            bad.append(DataError(path, number, None, str(exc)))
    return rows, bad


def _read_csv_rows(path: Path, text: str) -> tuple[list[tuple[int, dict]], list[DataError]]:
    import csv
    import io

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, rows, bad = None, [], []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(path, reader.line_num or start, None, f"not valid CSV ({exc})") from None
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if header is None:
            header = [f.strip() for f in fields]
            if len(set(header)) != len(header):
                duplicate = next(h for h in header if header.count(h) > 1)
                raise DataError(path, start, duplicate, "column named twice in the header")
            continue
        if len(fields) != len(header):
            hint = " (an unquoted comma in a field? put fields that contain commas in double quotes)" if len(fields) > len(header) else ""
            bad.append(DataError(path, start, None, f"has {len(fields)} fields, the header has {len(header)}{hint}"))
            continue
        rows.append((start, dict(zip(header, fields))))
    if header is None:
        raise DataError(path, None, None, "no header and no rows (empty file)")
    return rows, bad


def _read_parquet_rows(path: Path) -> tuple[list[tuple[int, dict]], list[DataError]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(path, None, None, f"not a readable parquet file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    try:
        records = table.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        raise DataError(path, None, None, f"cannot convert the parquet rows ({type(exc).__name__}: {exc})") from None
    return list(enumerate(records, start=1)), []


def read_numbered(path: str | Path) -> tuple[list[tuple[int, dict]], list[DataError]]:
    """A .jsonl, .csv or .parquet file's rows with their numbers (line numbers in text files,
    1-based indices in parquet), and the rows that could not even be parsed (as DataErrors).

    Whole-file problems raise a DataError: missing, unsupported type, empty, not UTF-8 (a UTF-8
    byte-order mark is fine), unreadable parquet, a CSV header without rows.
    """
    from careal.jsonio import decode_utf8

    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found (params.yaml data.source)")
    if path.is_dir():
        raise DataError(path, None, None, "is a folder, not a file (for a dataset folder use hf:<folder>)")
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise DataError(path, None, None, f"unsupported file type {suffix!r} (use one of {', '.join(FILE_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise DataError(path, None, None, "empty file (0 bytes): no rows")
    if suffix == ".parquet":
        rows, bad = _read_parquet_rows(path)
    else:
        text = decode_utf8(path, path.read_bytes())
        if not text.strip():
            raise DataError(path, None, None, "no rows (the file holds only blank lines)")
        rows, bad = (_read_jsonl_rows if suffix == ".jsonl" else _read_csv_rows)(path, text)
    if not rows and not bad:
        raise DataError(path, None, None, "no data rows" + (" (only a header)" if suffix == ".csv" else ""))
    return rows, bad


def read_table(path: str | Path) -> list[dict]:
    """Raw rows of a .jsonl, .parquet or .csv file; the first unparsable row is a DataError."""
    rows, bad = read_numbered(path)
    if bad:
        raise bad[0]
    return [row for _, row in rows]


def load_file(path: str | Path, on_bad_rows: str = "error", skipped: list | None = None, extra_columns: dict | None = None) -> list[CaresRecord]:
    """Validated records of a file. A bad row (unparsable or invalid) raises a DataError
    (``on_bad_rows="error"``: the first one in file order) or is left out and appended to
    ``skipped`` (``"skip"``). A file without a single valid row is always an error. Columns
    that are not CARES columns are counted in ``extra_columns`` (column -> rows) and not used."""
    rows, bad = read_numbered(path)
    if bad and on_bad_rows == "error":
        before = [(n, r) for n, r in rows if n < bad[0].row]
        validate_rows([r for _, r in before], str(path), numbers=[n for n, _ in before])
        raise bad[0]
    invalid: list[DataError] = []
    try:
        records = validate_rows([r for _, r in rows], str(path), numbers=[n for n, _ in rows], on_bad_rows=on_bad_rows, skipped=invalid, extra_columns=extra_columns)
    except DataError:
        if on_bad_rows == "error":
            raise
        records = []
    problems = sorted(bad + invalid, key=lambda e: e.row or 0)
    if not records:
        raise DataError(path, None, None, f"no valid rows: all {len(problems)} rows are bad (first: {problems[0]})")
    if skipped is not None:
        skipped.extend(problems)
    return records


def load_source(params, seed: int, skipped: list | None = None, extra_columns: dict | None = None) -> dict[str, list[CaresRecord]]:
    """Validated records by split: ``{"all": [...]}`` or ``{"train": [...], "eval": [...]}``.
    Rows left out under ``data.on_bad_rows: skip`` are appended to ``skipped`` (DataErrors);
    columns that are not CARES columns are counted in ``extra_columns`` (column -> rows)."""
    on_bad_rows = getattr(params, "on_bad_rows", "error")
    source = params.source
    if source == "builtin":
        from careal.data.synthetic import generate_prompts

        rows = generate_prompts(seed=seed, base_prompts_per_cell=params.builtin_base_prompts_per_cell)
        return {"all": validate_rows(rows, "builtin")}
    if source.startswith("hf:"):
        return _load_hf(source[3:], params, skipped, extra_columns)
    if Path(source).suffix.lower() in FILE_SUFFIXES or Path(source).is_file():
        return {"all": load_file(source, on_bad_rows, skipped, extra_columns)}
    raise CarealError(
        f"params.yaml: data.source {source!r} is not builtin, a {'/'.join(FILE_SUFFIXES)} file, or hf:<dataset>"
    )


def _validate_hf(rows, where: str, params, skipped, extra_columns=None) -> list[CaresRecord]:
    invalid: list[DataError] = []
    records = validate_rows(rows, where, on_bad_rows=getattr(params, "on_bad_rows", "error"), skipped=invalid, extra_columns=extra_columns)
    if not records:
        raise DataError(where, None, None, "no rows")
    if skipped is not None:
        skipped.extend(invalid)
    return records


def _load_hf(name: str, params, skipped=None, extra_columns=None) -> dict[str, list[CaresRecord]]:
    import datasets

    try:
        loaded = datasets.load_dataset(name)
    except Exception as exc:  # datasets raises many types: network, missing, format
        raise CarealError(f"data.source hf:{name}: cannot load the dataset ({type(exc).__name__}: {exc})") from None
    splits = {}
    for role, split in (("train", params.hf_train_split), ("eval", params.hf_eval_split)):
        if split in loaded:
            splits[role] = _validate_hf(loaded[split].to_list(), f"hf:{name}[{split}]", params, skipped, extra_columns)
    if len(splits) == 2:
        return splits
    if len(loaded) == 1:
        (only,) = loaded.keys()
        return {"all": _validate_hf(loaded[only].to_list(), f"hf:{name}[{only}]", params, skipped, extra_columns)}
    raise CarealError(
        f"data.source hf:{name}: has splits {', '.join(loaded.keys())}; set data.hf_train_split and "
        f"data.hf_eval_split to two of them"
    )
