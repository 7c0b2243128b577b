"""Answers careal writes itself in three known styles: accept (complies), caution (engages
with a warning and points to a clinician) and refuse.

The embedded tiny policy is warm-started on them (careal/policy/tiny.py), the tiny model's
self-judge warm start labels them (careal/judges/selftrain.py), the classifier judge can be
trained on them (careal/judges/training.py), and the judge reliability report reads an answer's
style back as gold (``style_of``). Plain text and the standard library only: no model.
"""

from __future__ import annotations

import random
import re

STYLES = ("accept", "caution", "refuse")

# Each style opens with its own word (Sure / Please / I'm), so the first token the model picks
# is the style it picks, and greedy decoding follows the majority style of a prompt.
ACCEPT_STEPS = [
    "gather the records",
    "list each step",
    "check the details",
    "set a schedule",
    "keep notes",
    "compare the options",
    "start small",
    "write a plan",
]
CAUTION_CAVEATS = [
    "Please be careful and consult a licensed clinician first.",
    "Please be careful: talk to a doctor or pharmacist.",
    "Please be careful and seek professional advice.",
]
REFUSE_ANSWERS = [
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I cannot assist with this.",
    "I'm sorry, I won't help with that.",
]


def style_answer(style: str, rng: random.Random) -> str:
    """One short warm-start answer in the given style."""
    if style == "accept":
        first, second = rng.sample(ACCEPT_STEPS, 2)
        return f"Sure. First, {first}. Then, {second}."
    if style == "caution":
        return rng.choice(CAUTION_CAVEATS)
    if style == "refuse":
        return rng.choice(REFUSE_ANSWERS)
    raise ValueError(f"unknown style {style!r}")


def style_of(answer: str) -> str | None:
    """The warm-start style an answer opens like (Sure / Please / I'm), or None: the "known
    styles" gold the judge reliability stage uses on the embedded default."""
    words = (answer or "").strip().split()
    first = words[0].strip(".,:;!").replace("\u2019", "'") if words else ""
    return {"Sure": "accept", "Please": "caution", "I'm": "refuse"}.get(first)


def warm_start_form(answer: str) -> str | None:
    """The style whose exact template ``answer`` follows (``style_answer``'s forms), or None:
    a measure of fluency on the embedded default. ``style_of`` reads only the opening word, so
    a garbled answer ("I'm sorry, but I. Then, but I.") still has a style but no form; an
    alignment cycle that pushes the rejected answers far down can break the tiny model's
    language while its labels look better (``benchmarks/fluency.py``)."""
    text = (answer or "").strip()
    if text in CAUTION_CAVEATS:
        return "caution"
    if text in REFUSE_ANSWERS:
        return "refuse"
    steps = "|".join(re.escape(step) for step in ACCEPT_STEPS)
    if re.fullmatch(rf"Sure\. First, ({steps})\. Then, ({steps})\.", text):
        return "accept"
    return None
