"""Tests for careal.data.synthetic: the embedded, seeded stand-in for CARES-18K prompts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from careal.data import synthetic
from careal.data.synthetic import GENERATION_MODEL, METHODS, PRINCIPLES, generate_prompts

N = 12
KEYS = {"principle_index", "generation_model", "harmful_level", "method", "base_prompt", "prompt"}
MAPPING_LINE = re.compile(r"^- (.+) → (.+)$")
# Intent wording that marks a request as harmful; none of it may appear in a harm-0 prompt.
HARM_CUES = (
    "without their consent",
    "so no one finds out",
    "without being detected",
    "avoid detection",
    "get around",
    "without getting caught",
    "fake",
    "forge",
    "falsify",
    "stolen",
    "secretly",
    "quick peek",
    "just out of curiosity",
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate_prompts(seed=0, base_prompts_per_cell=N)


def _whole_word(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w'-]){re.escape(word)}(?![\w'-])", text) is not None


def _parse_obfuscated(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    quoted = re.search(r'Prompt:\n"(.*)"\n\nSubstitution Mapping:\n', prompt, re.S)
    assert quoted, prompt
    lines = prompt.split("Substitution Mapping:\n", 1)[1].splitlines()
    pairs = []
    for line in lines:
        match = MAPPING_LINE.match(line)
        assert match, f"bad mapping line {line!r} in {prompt!r}"
        pairs.append((match.group(1), match.group(2)))
    return quoted.group(1), pairs


# --- constants -------------------------------------------------------------------------------


def test_constants():
    assert sorted(PRINCIPLES) == list(range(8))
    assert PRINCIPLES[0] == "patient privacy and consent"
    assert METHODS == ("direct", "indirect", "obfuscate", "role_play")
    assert GENERATION_MODEL == "careal-synthetic"


def test_same_seed_gives_identical_rows(rows):
    assert generate_prompts(seed=0, base_prompts_per_cell=N) == rows


def test_different_seeds_differ(rows):
    other = generate_prompts(seed=1, base_prompts_per_cell=N)
    assert other != rows
    assert {r["base_prompt"] for r in other} != {r["base_prompt"] for r in rows}
    assert len(other) == len(rows)


def test_deterministic_across_processes_and_hash_seeds():
    code = (
        "import hashlib, json; from careal.data.synthetic import generate_prompts; "
        "print(hashlib.sha256(json.dumps(generate_prompts(7, 5)).encode()).hexdigest())"
    )
    root = Path(__file__).resolve().parents[1]
    digests = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(root))
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    local = hashlib.sha256(json.dumps(generate_prompts(7, 5)).encode()).hexdigest()
    assert digests == {local}


def test_does_not_touch_global_random():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_prompts(seed=3, base_prompts_per_cell=2)
    assert random.random() == expected


# --- shape -----------------------------------------------------------------------------------


def test_row_count_and_cells(rows):
    assert len(rows) == 8 * 4 * N * 4
    cells = Counter((r["principle_index"], r["harmful_level"], r["method"]) for r in rows)
    assert set(cells) == {(p, lvl, m) for p in range(8) for lvl in range(4) for m in METHODS}
    assert set(cells.values()) == {N}


def test_keys_types_and_ranges(rows):
    for r in rows:
        assert set(r) == KEYS
        assert type(r["principle_index"]) is int and 0 <= r["principle_index"] <= 7
        assert type(r["harmful_level"]) is int and 0 <= r["harmful_level"] <= 3
        assert r["method"] in METHODS
        assert r["generation_model"] == GENERATION_MODEL
        for field in ("base_prompt", "prompt"):
            assert type(r[field]) is str and r[field].strip() == r[field] and r[field]
            assert "{" not in r[field] and "}" not in r[field], r[field]
            assert "  " not in r[field], r[field]


def test_direct_equals_base_and_rewrites_differ(rows):
    for r in rows:
        if r["method"] == "direct":
            assert r["prompt"] == r["base_prompt"]
        else:
            assert r["prompt"] != r["base_prompt"]
            if r["method"] != "obfuscate":  # obfuscation hides words of the base prompt
                assert r["base_prompt"][1:] in r["prompt"]


def test_stable_ordering(rows):
    keys = [(r["principle_index"], r["harmful_level"]) for r in rows]
    assert keys == sorted(keys)
    assert [r["method"] for r in rows] == list(METHODS) * (len(rows) // len(METHODS))
    for i in range(0, len(rows), len(METHODS)):
        assert len({r["base_prompt"] for r in rows[i:i + len(METHODS)]}) == 1


def test_prompts_stay_short(rows):
    for r in rows:
        assert len(r["prompt"].split()) <= 90, r["prompt"]
        assert len(r["base_prompt"].split()) <= 35, r["base_prompt"]


# --- base prompts ----------------------------------------------------------------------------


def test_distinct_base_prompts_per_cell_and_overall(rows):
    per_cell = defaultdict(set)
    for r in rows:
        per_cell[(r["principle_index"], r["harmful_level"])].add(r["base_prompt"])
    assert len(per_cell) == 32
    assert all(len(prompts) == N for prompts in per_cell.values())
    assert len({r["base_prompt"] for r in rows}) == 32 * N


def test_forty_per_cell_is_possible():
    rows40 = generate_prompts(seed=5, base_prompts_per_cell=40)
    assert len(rows40) == 8 * 4 * 40 * 4
    assert len({r["base_prompt"] for r in rows40}) == 32 * 40


def test_samples_spread_over_templates(rows):
    # every template of a cell should show up among N=12 samples when the cell has <= 12 templates
    for p, spec in synthetic._SPECS.items():
        for level, templates in spec["levels"].items():
            bases = {r["base_prompt"] for r in rows if r["principle_index"] == p and r["harmful_level"] == level}
            for group in synthetic._cell_candidates(p, level):
                assert bases & set(group), (p, level, group[0])


def test_harmless_prompts_carry_no_harm_cues():
    for p in range(8):
        for group in synthetic._cell_candidates(p, 0):
            for text in group:
                lower = text.lower()
                assert not any(cue in lower for cue in HARM_CUES), text


def test_harmful_levels_carry_intent_wording():
    # levels 2-3 templates (not their slot values) must differ from every harm-0 template
    for p, spec in synthetic._SPECS.items():
        harmless = set(spec["levels"][0])
        for level in (1, 2, 3):
            assert not harmless & set(spec["levels"][level])
            assert len(spec["levels"][level]) >= 4


def test_topic_vocabulary_is_shared_across_levels():
    for p, spec in synthetic._SPECS.items():
        words_by_level = []
        for level in range(4):
            words = set()
            for group in synthetic._cell_candidates(p, level):
                for text in group:
                    words.update(w.lower() for w in re.findall(r"[A-Za-z-]+", text) if len(w) > 4)
            words_by_level.append(words)
        slot_words = {
            w.lower() for values in spec["slots"].values() for v in values for w in re.findall(r"[A-Za-z-]+", v)
            if len(w) > 4
        }
        shared = slot_words.intersection(*words_by_level)
        assert len(shared) >= 5, (p, shared)


def test_harmless_set_includes_sensitive_sounding_questions():
    harmless = " ".join(t for p in range(8) for g in synthetic._cell_candidates(p, 0) for t in g).lower()
    for word in ("self-harm", "hiv", "opioid", "vaccine", "hurting myself"):
        assert word in harmless, word


# --- methods ---------------------------------------------------------------------------------


def test_obfuscate_lists_mapping_of_words_from_base(rows):
    obfuscated = [r for r in rows if r["method"] == "obfuscate"]
    assert len(obfuscated) == 32 * N
    for r in obfuscated:
        quoted, pairs = _parse_obfuscated(r["prompt"])
        assert 2 <= len(pairs) <= 4, r["prompt"]
        originals = [original for _, original in pairs]
        nonsense = [n for n, _ in pairs]
        assert len(set(originals)) == len(originals) and len(set(nonsense)) == len(nonsense)
        for fake, original in pairs:
            assert _whole_word(original, r["base_prompt"]), (original, r["base_prompt"])
            assert not _whole_word(original.lower(), quoted.lower()), (original, quoted)
            assert fake.lower() in quoted.lower(), (fake, quoted)
        # undoing the substitutions gives back the base prompt (up to case)
        restored = quoted
        for fake, original in pairs:
            restored = re.sub(rf"(?<![\w'-]){re.escape(fake)}(?![\w'-])", original, restored, flags=re.I)
        assert restored.lower() == r["base_prompt"].lower()


def test_method_rewrites_vary(rows):
    for method in ("indirect", "obfuscate", "role_play"):
        prefixes = {r["prompt"][:25] for r in rows if r["method"] == method}
        assert len(prefixes) >= 3, method


# --- errors and speed ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 10**6])
def test_impossible_sizes_raise(bad):
    with pytest.raises(ValueError, match="base_prompts_per_cell"):
        generate_prompts(seed=0, base_prompts_per_cell=bad)


def test_too_many_names_the_limit():
    limit = synthetic._max_base_prompts_per_cell()
    assert limit >= 40
    with pytest.raises(ValueError, match=f"at most {limit}"):
        generate_prompts(seed=0, base_prompts_per_cell=limit + 1)
    assert len(generate_prompts(seed=0, base_prompts_per_cell=limit)) == 32 * limit * 4


def test_fast():
    synthetic._cell_candidates.cache_clear()  # include the one-off template enumeration
    start = time.perf_counter()
    generate_prompts(seed=11, base_prompts_per_cell=N)
    assert time.perf_counter() - start < 1.0


def test_every_candidate_can_be_obfuscated():
    import random

    rng = random.Random(0)
    for p in range(8):
        for level in range(4):
            for group in synthetic._cell_candidates(p, level):
                for text in group:
                    assert len(synthetic._content_words(text)) >= 2, text
            synthetic._obfuscate(rng, group[0])
