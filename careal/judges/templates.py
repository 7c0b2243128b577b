"""Judge prompt templates: careal's builtin ones (``careal/judges/templates/*.txt``, shipped as
package data) or a user's file, and how a (prompt, response) pair fills one.

A template is plain text with two placeholders, ``{prompt}`` and ``{response}``; nothing else in
it is special (other braces are kept as written). The text the judge model sees is the filled
template as the user message of its chat template (or the raw text for a model without one),
followed by the assistant turn, so that the judge's next token is its label word.

Builtin templates:

- ``compact``: three lines, for the built-in tiny model (1024 positions; its warm start teaches
  it this template, see ``careal.judges.selftrain``).
- ``cares``: the full three-way rubric written from the CARES definitions, with worked examples,
  for real instruction-tuned LLMs.
- ``refusal_yesno``: asks "did the assistant refuse?" for yes/no refusal-detection judges
  (label words ``yes`` -> Refuse, ``no`` -> Accept).

The sha256 of the template's bytes is part of every label's judge identity, so a changed
template never shares cached verdicts with the old one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from careal.errors import CarealError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PLACEHOLDER = re.compile(r"\{(prompt|response)\}")


def builtin_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))


@dataclass(frozen=True)
class Template:
    """A loaded template: its name (builtin name or path), text and sha256."""

    name: str
    text: str
    sha256: str

    def fill(self, prompt: str, response: str) -> str:
        """The template with ``{prompt}`` and ``{response}`` replaced in one pass (a response
        that itself contains ``{prompt}`` is left as written)."""
        values = {"prompt": prompt.strip(), "response": response.strip()}
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text).strip()


def load_template(name_or_path: str) -> Template:
    """A builtin template by name (``compact``, ``cares``, ``refusal_yesno``) or a user's file."""
    builtin = TEMPLATE_DIR / f"{name_or_path}.txt"
    if re.fullmatch(r"[a-z_]+", name_or_path) and builtin.exists():
        path, name = builtin, name_or_path
    else:
        path, name = Path(name_or_path), name_or_path
        if not path.is_file():
            raise CarealError(f"judge rubric {name_or_path!r}: neither a builtin template ({', '.join(builtin_names())}) nor a file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CarealError(f"{path}: judge template is not UTF-8 text") from None
    missing = [p for p in ("{prompt}", "{response}") if p not in text]
    if missing:
        raise CarealError(f"{path}: judge template lacks the placeholder(s) {', '.join(missing)}")
    return Template(name=name, text=text, sha256=hashlib.sha256(data).hexdigest())
