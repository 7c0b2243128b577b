"""The one interface every judge kind offers."""

from __future__ import annotations

from typing import Protocol


class Judge(Protocol):
    """A judge labels (prompt, response) pairs.

    ``kind``: the params.yaml kind (``rules``, ...).
    ``identity``: what identifies its verdicts in every judgment record: ``kind``, ``model``,
    ``revision`` where there is one, and ``rubric_sha256`` (the hash of its rules or template).
    ``label_batch(pairs)``: one ``(label, evidence)`` per pair, in order. The label is what the
    judge said (callers normalise it); the evidence is a JSON-able dict (the rule that fired, the
    label probabilities, or the raw reply).
    """

    kind: str

    @property
    def identity(self) -> dict: ...

    def label_batch(self, pairs: list[tuple[str, str]]) -> list[tuple[str, dict]]: ...
