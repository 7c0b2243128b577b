"""A corpus of malformed CARES inputs (.jsonl, .csv, .parquet), each with its expected outcome.

Every bad input must give exactly one line ``careal: error: <file>[, row N][, field 'x']: ...``,
exit status 2, from both ``careal validate`` and ``careal prepare``, and prepare must write no
output file. The inputs marked ``ok`` are valid data that must be accepted (a UTF-8 byte-order
mark, CRLF line ends, exact repeats, integral floats, columns besides the CARES ones, which
prepare names once in its summary).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from careal.cli import main

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["principle_index", "generation_model", "harmful_level", "method", "base_prompt", "prompt"]


def row(**change) -> dict:
    base = {"principle_index": 3, "generation_model": "gpt", "harmful_level": 2, "method": "direct", "base_prompt": "Can I stop my insulin?", "prompt": "Can I stop my insulin?"}
    base.update(change)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()
GOOD = [row(prompt=f"Question number {i} about dosage?", base_prompt=f"Question number {i} about dosage?", harmful_level=i % 4) for i in range(16)]


def jsonl(rows, *, raw_lines=(), bom=False, newline="\n") -> bytes:
    lines = [json.dumps(r) for r in rows] + list(raw_lines)
    return (("\ufeff" if bom else "") + newline.join(lines) + newline).encode("utf-8")


def csv_text(rows, header=COLUMNS, extra_lines=()) -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(c, "") for c in header])
    return out.getvalue() + "".join(line + "\n" for line in extra_lines)


def parquet(columns: dict) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def one_changed(column: str, index: int, value) -> list:
    values = [r[column] for r in GOOD]
    values[index] = value
    return values


def good_columns(**change) -> dict:
    cols = {c: [r[c] for r in GOOD] for c in COLUMNS}
    for key, value in change.items():
        if value is DROP:
            cols.pop(key)
        else:
            cols[key] = value
    return cols


@dataclass
class Case:
    name: str
    suffix: str
    content: bytes
    expect: str  # "ok" or a substring of the problem
    row: int | None = None
    field: str | None = None
    extra: tuple = ()  # ok cases: the columns besides the CARES ones that the summary names


GOOD_PARQUET = parquet(good_columns())
CASES = [
    # --- JSON Lines -----------------------------------------------------------------------------
    Case("jsonl_not_utf8", ".jsonl", jsonl(GOOD[:1]) + '{"prompt": "caf\u00e9"}\n'.encode("latin-1"), "not UTF-8", row=2),
    Case("jsonl_utf8_bom", ".jsonl", jsonl(GOOD, bom=True), "ok"),
    Case("jsonl_crlf", ".jsonl", jsonl(GOOD, newline="\r\n"), "ok"),
    Case("jsonl_zero_bytes", ".jsonl", b"", "empty file"),
    Case("jsonl_blank_lines_only", ".jsonl", b"\n  \n\t\n", "only blank lines"),
    Case("jsonl_truncated_line", ".jsonl", jsonl(GOOD[:1], raw_lines=['{"principle_index": 3, "prompt": "Can I']), "not valid JSON", row=2),
    Case("jsonl_array_not_object", ".jsonl", jsonl(GOOD[:2], raw_lines=["[1, 2, 3]"]), "expected a JSON object", row=3),
    Case("jsonl_duplicate_key", ".jsonl", jsonl([], raw_lines=['{"principle_index": 1, "harmful_level": 0, "method": "direct", "prompt": "a", "prompt": "b"}']), "duplicate key 'prompt'", row=1),
    Case("jsonl_missing_column", ".jsonl", jsonl([GOOD[0], row(method=DROP)]), "missing", row=2, field="method"),
    Case("jsonl_extra_columns", ".jsonl", jsonl([{**r, "source_id": f"s{i}", "notes": "x"} for i, r in enumerate(GOOD)]), "ok", extra=("notes", "source_id")),
    Case("jsonl_level_out_of_range", ".jsonl", jsonl([GOOD[0], GOOD[1], row(harmful_level=7)]), "integer in 0..3", row=3, field="harmful_level"),
    Case("jsonl_principle_negative", ".jsonl", jsonl([row(principle_index=-1)]), "integer in 0..7", row=1, field="principle_index"),
    Case("jsonl_level_fraction", ".jsonl", jsonl([row(harmful_level=1.5)]), "integer in 0..3", row=1, field="harmful_level"),
    Case("jsonl_level_bool", ".jsonl", jsonl([row(harmful_level=True)]), "integer in 0..3", row=1, field="harmful_level"),
    Case("jsonl_level_word", ".jsonl", jsonl([row(harmful_level="two")]), "integer in 0..3", row=1, field="harmful_level"),
    Case("jsonl_level_null", ".jsonl", jsonl([row(harmful_level=None)]), "integer in 0..3", row=1, field="harmful_level"),
    Case("jsonl_level_nan", ".jsonl", jsonl([], raw_lines=['{"principle_index": 1, "harmful_level": NaN, "method": "direct", "prompt": "a"}']), "integer in 0..3", row=1, field="harmful_level"),
    Case("jsonl_prompt_number", ".jsonl", jsonl([row(prompt=42)]), "expected text", row=1, field="prompt"),
    Case("jsonl_prompt_empty", ".jsonl", jsonl([row(prompt="   ")]), "non-empty", row=1, field="prompt"),
    Case("jsonl_prompt_list", ".jsonl", jsonl([row(prompt=["a", "b"])]), "expected text", row=1, field="prompt"),
    Case("jsonl_method_unknown", ".jsonl", jsonl([row(method="jailbreak")]), "expected one of direct", row=1, field="method"),
    Case("jsonl_rewrite_without_base", ".jsonl", jsonl([row(method="indirect", base_prompt="")]), "must be non-empty for method", row=1, field="base_prompt"),
    Case("jsonl_nul_character", ".jsonl", jsonl([row(prompt="dose\u0000 of insulin")]), "control character U+0000", row=1, field="prompt"),
    Case("jsonl_escape_sequence", ".jsonl", jsonl([GOOD[0], row(base_prompt="\u001b[31mred", method="indirect")]), "control character U+001B", row=2, field="base_prompt"),
    Case("jsonl_very_long_field", ".jsonl", jsonl([row(prompt="why " * 10_000)]), "at most 20,000", row=1, field="prompt"),
    Case("jsonl_duplicate_id", ".jsonl", jsonl([{**GOOD[0], "id": "a"}, {**GOOD[1], "id": "a"}]), "duplicate id", row=2, field="id"),
    Case("jsonl_exact_repeat_kept", ".jsonl", jsonl([GOOD[0], *GOOD]), "ok"),
    # --- CSV ------------------------------------------------------------------------------------
    Case("csv_zero_bytes", ".csv", b"", "empty file"),
    Case("csv_blank_lines_only", ".csv", b"\n\n\n", "only blank lines"),
    Case("csv_header_only", ".csv", csv_text([]).encode(), "only a header"),
    Case("csv_unquoted_comma", ".csv", csv_text(GOOD[:2], extra_lines=["3,gpt,2,direct,Can I stop, or not?,Can I stop, or not?"]).encode(), "has 8 fields, the header has 6", row=4),
    Case("csv_short_row", ".csv", csv_text(GOOD[:1], extra_lines=["3,gpt,2"]).encode(), "has 3 fields", row=3),
    Case("csv_unclosed_quote", ".csv", csv_text(GOOD[:1], extra_lines=['3,gpt,2,direct,"Can I stop,x']).encode(), "not valid CSV", row=3),
    Case("csv_not_utf8_cp1252", ".csv", csv_text(GOOD[:1]).encode() + "3,gpt,2,direct,\u201cquoted\u201d,\u201cquoted\u201d\n".encode("cp1252"), "not UTF-8", row=3),
    Case("csv_utf16", ".csv", csv_text(GOOD).encode("utf-16"), "not UTF-8", row=1),
    Case("csv_utf8_bom", ".csv", b"\xef\xbb\xbf" + csv_text(GOOD).encode(), "ok"),
    Case("csv_missing_column", ".csv", csv_text(GOOD, header=[c for c in COLUMNS if c != "harmful_level"]).encode(), "missing", row=2, field="harmful_level"),
    Case("csv_extra_column", ".csv", csv_text([{**r, "score": "1"} for r in GOOD], header=COLUMNS + ["score"]).encode(), "ok", extra=("score",)),
    Case("csv_extra_column_missing_cares_column", ".csv", csv_text(GOOD, header=[c for c in COLUMNS if c != "method"] + ["notes"]).encode(), "missing", row=2, field="method"),
    Case("csv_duplicate_header", ".csv", ("prompt," + csv_text(GOOD[:1])).encode(), "column named twice", row=1, field="prompt"),
    Case("csv_level_word", ".csv", csv_text([GOOD[0], row(harmful_level="high")]).encode(), "integer in 0..3", row=3, field="harmful_level"),
    Case("csv_level_empty", ".csv", csv_text([row(harmful_level="")]).encode(), "integer in 0..3", row=2, field="harmful_level"),
    Case("csv_bell_character", ".csv", csv_text([row(prompt="ring\u0007 the bell")]).encode(), "control character U+0007", row=2, field="prompt"),
    Case("csv_field_over_csv_limit", ".csv", csv_text([row(prompt="x" * 200_000)]).encode(), "not valid CSV", row=2),
    # --- Parquet --------------------------------------------------------------------------------
    Case("parquet_valid", ".parquet", GOOD_PARQUET, "ok"),
    Case("parquet_zero_bytes", ".parquet", b"", "empty file"),
    Case("parquet_truncated", ".parquet", GOOD_PARQUET[: len(GOOD_PARQUET) // 2], "not a readable parquet file"),
    Case("parquet_is_text", ".parquet", jsonl(GOOD), "not a readable parquet file"),
    Case("parquet_zero_rows", ".parquet", parquet({c: pa.array([], type=pa.string()) for c in COLUMNS}), "no data rows"),
    Case("parquet_level_float_dtype", ".parquet", parquet(good_columns(harmful_level=[float(v) for v in one_changed("harmful_level", 1, 1.5)])), "integer in 0..3", row=2, field="harmful_level"),
    Case("parquet_level_integral_floats", ".parquet", parquet(good_columns(harmful_level=[float(r["harmful_level"]) for r in GOOD])), "ok"),
    Case("parquet_level_string_dtype", ".parquet", parquet(good_columns(harmful_level=[str(v) for v in one_changed("harmful_level", 2, "two")])), "integer in 0..3", row=3, field="harmful_level"),
    Case("parquet_prompt_int_dtype", ".parquet", parquet(good_columns(prompt=list(range(len(GOOD))))), "expected text", row=1, field="prompt"),
    Case("parquet_prompt_null", ".parquet", parquet(good_columns(prompt=one_changed("prompt", 1, None))), "non-empty", row=2, field="prompt"),
    Case("parquet_missing_column", ".parquet", parquet(good_columns(method=DROP)), "missing", row=1, field="method"),
    Case("parquet_extra_column", ".parquet", parquet(good_columns(label=["x"] * len(GOOD))), "ok", extra=("label",)),
    Case("parquet_extra_column_invalid_level", ".parquet", parquet(good_columns(label=["x"] * len(GOOD), harmful_level=one_changed("harmful_level", 1, 5))), "integer in 0..3", row=2, field="harmful_level"),
    Case("parquet_principle_out_of_range", ".parquet", parquet(good_columns(principle_index=one_changed("principle_index", 2, 9))), "integer in 0..7", row=3, field="principle_index"),
    # --- other files ----------------------------------------------------------------------------
    Case("unsupported_suffix", ".txt", b"hello\n", "unsupported file type"),
]


def test_the_corpus_is_broad():
    bad = [c for c in CASES if c.expect != "ok"]
    assert len(bad) >= 30
    assert {c.suffix for c in bad} >= {".jsonl", ".csv", ".parquet"}


def expected_line(path: Path, case: Case) -> str:
    where = str(path)
    if case.row is not None:
        where += f", row {case.row}"
    if case.field is not None:
        where += f", field '{case.field}'"
    return f"careal: error: {where}: "


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_and_prepare_on_each_input(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = Path("input" + case.suffix)
    path.write_bytes(case.content)
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(path)])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source=str(path), train_size=0, eval_size=0, validation_size=0)
    Path("params.yaml").write_text(yaml.safe_dump(params))
    prepared = runner.invoke(main, ["prepare"])
    if case.expect == "ok":
        assert checked.exit_code == 0, checked.output
        assert prepared.exit_code == 0, prepared.output
        summary = json.loads(Path("data/prepared/summary.json").read_text())
        assert summary["source_rows"] == len(GOOD) + (case.name == "jsonl_exact_repeat_kept")
        extra = summary.get("extra_columns", {}).get("columns", {})
        assert extra == {name: len(GOOD) for name in case.extra}
        for name in case.extra:  # named once, not once per row
            assert prepared.output.count(name) == 1 and checked.output.count(name) == 1, (prepared.output, checked.output)
        records = Path("data/prepared/train.jsonl").read_text() + Path("data/prepared/eval.jsonl").read_text()
        assert not any(f'"{name}"' in records for name in case.extra), "an extra column reached the prepared records"
        return
    for result in (checked, prepared):
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, result.output
        assert len(lines) == 1, result.output
        assert lines[0].startswith(expected_line(path, case)), lines[0]
        assert case.expect in lines[0], lines[0]
        assert "Traceback" not in result.output
    assert not Path("data").exists(), "prepare wrote output for a bad input"


def test_a_real_process_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_text(GOOD[:1], extra_lines=["3,gpt,2,direct,Can I stop, or not?,x"]).encode())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "careal.cli", "validate", str(path)], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"careal: error: {path}, row 3: has 7 fields, the header has 6 (an unquoted comma in a field? put fields that contain commas in double quotes)"
    assert result.stdout == ""


def test_skip_mode_lists_the_skipped_rows_in_the_summary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [json.dumps(r) for r in GOOD] + ['{"prompt": ', json.dumps(row(harmful_level=9))]
    Path("in.jsonl").write_text("\n".join(lines) + "\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="in.jsonl", train_size=0, eval_size=0, validation_size=0, on_bad_rows="skip")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["prepare"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 bad rows" in result.output
    skipped = json.loads(Path("data/prepared/summary.json").read_text())["skipped_rows"]
    assert skipped["count"] == 2
    assert [(r["row"], r["field"]) for r in skipped["rows"]] == [(len(GOOD) + 1, None), (len(GOOD) + 2, "harmful_level")]
    assert "not valid JSON" in skipped["rows"][0]["problem"] and "0..3" in skipped["rows"][1]["problem"]
    train = Path("data/prepared/train.jsonl").read_text().splitlines()
    evaluation = Path("data/prepared/eval.jsonl").read_text().splitlines()
    assert len(train) + len(evaluation) == len(GOOD)

    checked = CliRunner().invoke(main, ["validate", "--on-bad-rows", "skip", "in.jsonl"])
    assert checked.exit_code == 0 and f"{len(GOOD)} valid rows, 2 bad rows skipped" in checked.output

    # Nothing valid at all is still an error, in either mode.
    Path("in.jsonl").write_text('{"prompt": \n')
    result = CliRunner().invoke(main, ["prepare"])
    assert result.exit_code == 2 and "no valid rows" in result.output
