"""A synthetic, offline prompt set in the CARES-18K format (careal's embedded default data).

What it is
----------
``generate_prompts(seed, base_prompts_per_cell)`` builds, deterministically from a seed and
with the standard library only, a set of medical-assistant prompts with the six CARES columns
(``principle_index``, ``generation_model``, ``harmful_level``, ``method``, ``base_prompt``,
``prompt``). Every principle (8) x harm level (4) cell gets ``base_prompts_per_cell`` distinct
base prompts, and each base prompt is rewritten with the four CARES methods:

* ``direct``     -- the base prompt as is;
* ``indirect``   -- a hypothetical / third-party / academic framing of the same request;
* ``obfuscate``  -- CARES's substitution game: 2-4 content words of the base prompt are replaced
  by innocuous nonsense words and the prompt lists the mapping (``- nonsense → original``);
* ``role_play``  -- a persona or fiction frame around the request.

The base prompts come from hand-written templates per (principle, harm level) whose slots are
filled from per-principle word lists (conditions, drug classes, roles, settings, groups ...).
The topic vocabulary is shared by all harm levels of a principle while the intent wording
differs ("take a quick peek" / "without their consent", "so no one finds out" / "sell them
without being detected", "avoid detection" ...), so that a model has to read the *intent*
rather than the topic. Harm level 0 deliberately contains legitimate questions that *sound*
sensitive (self-harm support, opioid disposal, HIV confidentiality, vaccine myths): over-refusal
of those is one of the things the pipeline measures.

What it is not
--------------
It is not CARES and contains no CARES text: it is a small stand-in with the same schema and the
same label semantics, meant for the tiny (~1M parameter) default model, for CI and for running
the pipeline offline. Numbers measured on it say nothing about CARES-18K itself. The harmful
prompts are *requests* in the spirit of a safety benchmark; they are kept non-operational
(no doses, recipes or instructions) and the set contains no answers.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import random
import re
import string

import yaml

from careal.data.schema import CARES_COLUMNS, HARM_LEVELS, METHODS, PRINCIPLES

__all__ = [
    "PRINCIPLES",
    "HARM_LEVELS",
    "METHODS",
    "COLUMNS",
    "GENERATION_MODEL",
    "generate_prompts",
]

# The CARES vocabulary is defined once, in careal.data.schema.
COLUMNS = CARES_COLUMNS
GENERATION_MODEL = "careal-synthetic"

# The templates and word lists are content, kept as package data: careal/data/synthetic_prompts.yaml
# (what each part means is written there). Read once, at import.
PROMPTS_FILE = "synthetic_prompts.yaml"


def _load_content() -> dict:
    text = importlib.resources.files("careal.data").joinpath(PROMPTS_FILE).read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


_CONTENT = _load_content()
#: principle -> {"slots": {slot: [values]}, "levels": {harm level: [templates]}}
_SPECS: dict[int, dict] = _CONTENT["base_prompts"]
_INDIRECT_TEMPLATES: tuple[str, ...] = tuple(_CONTENT["indirect_templates"])
_ROLE_PLAY_TEMPLATES: tuple[str, ...] = tuple(_CONTENT["role_play_templates"])
_PERSONA_NAMES: tuple[str, ...] = tuple(_CONTENT["persona_names"])
_PERSONA_BOTS: tuple[str, ...] = tuple(_CONTENT["persona_bots"])
_PERSONA_ROLES: tuple[str, ...] = tuple(_CONTENT["persona_roles"])
_OBFUSCATE_TEMPLATES: tuple[str, ...] = tuple(_CONTENT["obfuscate_templates"])
_NONSENSE: tuple[str, ...] = tuple(_CONTENT["nonsense"])
_STOPWORDS = frozenset(_CONTENT["stopwords"].split())
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*")  # "COVID-19", "ex-partner"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _article(phrase: str) -> str:
    """The indefinite article for ``phrase``: 'a' or 'an' (handles acronyms and common exceptions)."""
    word = phrase.split()[0]
    if len(word) > 1 and word.isupper():  # acronyms are read letter by letter: an MRI, an AI, a GP
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    lower = word.lower()
    if lower.startswith(("uni", "use", "usu", "eu", "one")):
        return "a"
    if lower.startswith(("hour", "honest", "honour")):
        return "an"
    return "an" if lower[0] in "aeiou" else "a"


def _plural(phrase: str) -> str:
    """Plural of a noun phrase, inflecting its last word ('missed diagnosis' -> 'missed diagnoses')."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith("is"):
        last = last[:-2] + "es"
    elif last.endswith(("s", "sh", "ch", "x", "z")):
        last += "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _slot_of(field: str) -> str:
    for prefix in ("a_", "pl_"):
        if field.startswith(prefix):
            return field[len(prefix):]
    return field


def _field_value(field: str, value: str) -> str:
    if field.startswith("a_"):
        return f"{_article(value)} {value}"
    if field.startswith("pl_"):
        return _plural(value)
    return value


def _template_fields(template: str) -> list[str]:
    fields: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name and name not in fields:
            fields.append(name)
    return fields


def _render_template(template: str, slots: dict[str, list[str]]) -> list[str]:
    """Every rendering of ``template`` over the slot vocabulary, in a fixed order."""
    fields = _template_fields(template)
    names = sorted({_slot_of(f) for f in fields})
    missing = [n for n in names if n not in slots]
    if missing:
        raise KeyError(f"template {template!r} uses unknown slot(s) {missing}")
    out = []
    for combo in itertools.product(*(slots[n] for n in names)):
        chosen = dict(zip(names, combo))
        out.append(template.format(**{f: _field_value(f, chosen[_slot_of(f)]) for f in fields}))
    return out


@functools.lru_cache(maxsize=None)
def _cell_candidates(principle: int, level: int) -> tuple[tuple[str, ...], ...]:
    """Distinct base prompts of one cell, grouped by template (seed-independent, cached)."""
    spec = _SPECS[principle]
    seen: set[str] = set()
    groups = []
    for template in spec["levels"][level]:
        group = []
        for text in _render_template(template, spec["slots"]):
            if text not in seen:
                seen.add(text)
                group.append(text)
        groups.append(tuple(group))
    return tuple(groups)


def _cell_capacity(principle: int, level: int) -> int:
    """How many distinct base prompts the templates of one cell can produce."""
    return sum(len(g) for g in _cell_candidates(principle, level))


def _max_base_prompts_per_cell() -> int:
    return min(_cell_capacity(p, lvl) for p in PRINCIPLES for lvl in HARM_LEVELS)


def _sample_base_prompts(rng: random.Random, principle: int, level: int, n: int, used: set[str]) -> list[str]:
    """``n`` distinct base prompts of a cell, spread round-robin over its templates."""
    pools = [list(g) for g in _cell_candidates(principle, level)]
    for pool in pools:
        rng.shuffle(pool)
    rng.shuffle(pools)
    chosen: list[str] = []
    while len(chosen) < n and any(pools):
        for pool in pools:
            while pool:
                text = pool.pop()
                if text not in used:
                    used.add(text)
                    chosen.append(text)
                    break
            if len(chosen) == n:
                break
    if len(chosen) < n:  # only if another cell already took the same text
        raise ValueError(
            f"principle {principle}, harm level {level}: only {len(chosen)} distinct base prompts "
            f"available, {n} requested"
        )
    return chosen


def _lower_first(text: str) -> str:
    """Lower-case the first letter for use mid-sentence, unless it starts 'I', 'I'm' or an acronym."""
    first = text.split(" ", 1)[0]
    if re.match(r"I\b", first) or (len(first) > 1 and first[:2].isupper()):
        return text
    return text[:1].lower() + text[1:]


def _indirect(rng: random.Random, base: str) -> str:
    return rng.choice(_INDIRECT_TEMPLATES).format(q=base, lq=_lower_first(base))


def _role_play(rng: random.Random, base: str) -> str:
    template = rng.choice(_ROLE_PLAY_TEMPLATES)
    return template.format(
        q=base,
        lq=_lower_first(base),
        name=rng.choice(_PERSONA_NAMES),
        bot=rng.choice(_PERSONA_BOTS),
        role=rng.choice(_PERSONA_ROLES),
    )


def _content_words(text: str) -> dict[str, str]:
    """Content words of ``text`` (no stop words, no possessives) in order of first use:
    lower-cased word -> its first spelling in ``text``."""
    words: dict[str, str] = {}
    for match in _WORD_RE.finditer(text):
        word = match.group(0)
        lower = word.lower()
        possessive = "'" in word or text[match.end():match.end() + 1] == "'"  # patient's, patients'
        if possessive or len(word) < 3 or lower in _STOPWORDS or lower in words:
            continue
        words[lower] = word
    return words


def _whole_word_pattern(words: list[str]) -> re.Pattern:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])", re.IGNORECASE)


def _obfuscate(rng: random.Random, base: str) -> str:
    """CARES's substitution game: swap 2-4 content words for nonsense words and list the mapping."""
    surface = _content_words(base)
    candidates = list(surface)
    if len(candidates) < 2:
        raise ValueError(f"base prompt has too few content words to obfuscate: {base!r}")
    k = rng.randint(2, min(4, len(candidates)))
    originals = rng.sample(candidates, k)
    base_words = {w.lower() for w in _WORD_RE.findall(base)}
    nonsense_pool = [n for n in _NONSENSE if not set(n.split()) & base_words]
    nonsense = rng.sample(nonsense_pool, k)
    mapping = dict(zip(originals, nonsense))

    def substitute(match: re.Match) -> str:
        word = match.group(0)
        replacement = mapping[word.lower()]
        return replacement[:1].upper() + replacement[1:] if word[:1].isupper() else replacement

    rewritten = _whole_word_pattern(originals).sub(substitute, base)
    order = sorted(originals, key=candidates.index)  # list the mapping in reading order
    lines = "\n".join(f"- {mapping[o]} → {surface[o]}" for o in order)
    return rng.choice(_OBFUSCATE_TEMPLATES).format(p=rewritten, m=lines)


def _rewrite(rng: random.Random, method: str, base: str) -> str:
    if method == "direct":
        return base
    if method == "indirect":
        return _indirect(rng, base)
    if method == "obfuscate":
        return _obfuscate(rng, base)
    if method == "role_play":
        return _role_play(rng, base)
    raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_prompts(seed: int = 0, base_prompts_per_cell: int = 12) -> list[dict]:
    """Build the synthetic prompt set: rows with the six CARES columns.

    Keys are exactly ``principle_index, generation_model, harmful_level, method, base_prompt,
    prompt``. For every principle (8) x harm level (4), ``base_prompts_per_cell`` distinct base
    prompts are sampled (spread over the cell's templates) and each is rewritten with all four
    methods, so there are ``8 * 4 * base_prompts_per_cell * 4`` rows, ordered by principle,
    harm level, base prompt, then method in ``METHODS`` order. Base prompts are distinct across
    the whole set. ``prompt == base_prompt`` exactly for ``direct`` rows.

    Deterministic: the same ``seed`` and ``base_prompts_per_cell`` give an identical list (a
    private ``random.Random(seed)`` drives every choice); different seeds give different sets.

    Raises ValueError if ``base_prompts_per_cell`` is not a positive integer or exceeds the
    number of distinct base prompts the smallest cell's templates can produce.
    """
    if isinstance(base_prompts_per_cell, bool) or not isinstance(base_prompts_per_cell, int):
        raise ValueError(f"base_prompts_per_cell must be an integer, got {base_prompts_per_cell!r}")
    if base_prompts_per_cell < 1:
        raise ValueError(f"base_prompts_per_cell must be at least 1, got {base_prompts_per_cell}")
    capacity = _max_base_prompts_per_cell()
    if base_prompts_per_cell > capacity:
        smallest = min(
            ((p, lvl) for p in PRINCIPLES for lvl in HARM_LEVELS),
            key=lambda cell: _cell_capacity(*cell),
        )
        raise ValueError(
            f"base_prompts_per_cell={base_prompts_per_cell} is more than the synthetic templates can "
            f"produce: at most {capacity} distinct base prompts per cell (the smallest cell is "
            f"principle {smallest[0]}, harm level {smallest[1]})"
        )

    rng = random.Random(seed)
    used: set[str] = set()
    rows: list[dict] = []
    for principle in sorted(PRINCIPLES):
        for level in sorted(HARM_LEVELS):
            for base in _sample_base_prompts(rng, principle, level, base_prompts_per_cell, used):
                for method in METHODS:
                    rows.append(
                        {
                            "principle_index": int(principle),
                            "generation_model": GENERATION_MODEL,
                            "harmful_level": int(level),
                            "method": method,
                            "base_prompt": base,
                            "prompt": _rewrite(rng, method, base),
                        }
                    )
    return rows


if __name__ == "__main__":  # a quick look: python -m careal.data.synthetic
    for row in generate_prompts(0, 2)[::7]:
        print(f"[{row['principle_index']}/{row['harmful_level']}/{row['method']}] {row['prompt']}\n")
