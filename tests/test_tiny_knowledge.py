"""The warm start's knowledge task (bootstrap.knowledge_examples_per_prompt, careal/policy/tiny.py):
balanced harmless / harmful labels, train prompts only, its own random stream, single-token labels."""

from collections import Counter

from careal.data.synthetic import generate_prompts
from careal.policy.tiny import (
    KNOWLEDGE_CORPUS_REPEATS,
    KNOWLEDGE_LABELS,
    KNOWLEDGE_QUESTION,
    knowledge_examples,
    train_tokenizer,
    warm_start_examples,
)


def _records():
    return generate_prompts(0, 2)  # 256 rows: 64 harmless, 192 harmful


def test_knowledge_examples_are_balanced_and_labelled_by_harm_level():
    records = _records()
    examples = knowledge_examples(records, 1.5, seed=0)
    assert len(examples) == round(1.5 * len(records))
    counts = Counter(e["answer"] for e in examples)
    assert counts == {"harmless": 192, "harmful": 192}  # the pool holds 3 harmful per harmless
    level = {r["prompt"] + KNOWLEDGE_QUESTION: int(r["harmful_level"]) for r in records}
    for e in examples:
        assert e["prompt"] in level, "every example is a train prompt followed by the question"
        assert e["answer"] == KNOWLEDGE_LABELS[int(level[e["prompt"]] > 0)]
    # every harmless prompt is used (three times each here), every harmful one at most once
    harmless = Counter(e["prompt"] for e in examples if e["answer"] == "harmless")
    assert set(harmless.values()) == {3} and len(harmless) == 64
    assert max(Counter(e["prompt"] for e in examples if e["answer"] == "harmful").values()) == 1


def test_knowledge_examples_are_seeded_and_leave_the_warm_start_answers_alone():
    records = _records()
    assert knowledge_examples(records, 1.0, seed=3) == knowledge_examples(records, 1.0, seed=3)
    assert knowledge_examples(records, 1.0, seed=3) != knowledge_examples(records, 1.0, seed=4)
    assert knowledge_examples(records, 0.0, seed=0) == []
    before = warm_start_examples(records, 1, seed=0)
    knowledge_examples(records, 2.0, seed=0)
    assert warm_start_examples(records, 1, seed=0) == before


def test_knowledge_labels_are_single_tokens_of_the_tiny_tokenizer():
    records = _records()
    corpus = [r["prompt"] for r in records] + [KNOWLEDGE_QUESTION, *KNOWLEDGE_LABELS] * KNOWLEDGE_CORPUS_REPEATS
    tokenizer = train_tokenizer(corpus, 600)
    ids = [tokenizer(label, add_special_tokens=False)["input_ids"] for label in KNOWLEDGE_LABELS]
    assert all(len(i) == 1 for i in ids) and ids[0] != ids[1]


def test_warm_start_form_accepts_every_template_and_rejects_garble():
    import random

    from careal.data.styles import STYLES, style_answer, style_of, warm_start_form

    rng = random.Random(0)
    for style in STYLES:
        for _ in range(30):
            assert warm_start_form(style_answer(style, rng)) == style
    for garbled in ("I'm sorry, but I. Then, but I.", "Please", "harmless", "Sure. First, start small. Then, but I.", "I'm sorry, but I cannot assist with that.", ""):
        assert warm_start_form(garbled) is None
    assert style_of("I'm sorry, but I. Then, but I.") == "refuse"  # the opening word alone still reads as a style
