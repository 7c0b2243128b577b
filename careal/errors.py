"""The one error type careal raises for bad input: it names the file, the row and the field."""

from __future__ import annotations


class CarealError(Exception):
    """A user-facing error. The CLI prints its message and exits with status 2."""


class DataError(CarealError):
    """Bad input data, located by file, 1-based row number and field."""

    def __init__(self, path, row: int | None, field: str | None, problem: str):
        self.path, self.row, self.field, self.problem = str(path), row, field, problem
        where = self.path
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")
