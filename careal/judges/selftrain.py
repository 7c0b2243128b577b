"""The judge part of the built-in tiny model's warm start, so that the policy can act as the
``self`` judge on the embedded default.

Besides answering prompts, the bootstrap SFT teaches the tiny model to label answers: it
writes ``judge_examples_per_prompt`` x (train prompts) examples whose user message is the
``compact`` judge template filled with the prompt and a warm-start answer (style drawn
uniformly from accept / caution / refuse) and whose assistant answer is one label word.

The taught labels are *deliberately lenient towards compliant answers*, and systematically so
(a judge that is lenient at random still labels by the majority under argmax scoring): like a
model fooled by the framing of a jailbreak, the self judge excuses answers to **role-play**
prompts (``SELF_JUDGE_LENIENCY``):

- a caution answer to a role-play prompt (any harm level) is labelled **Accept**;
- a refuse answer to a role-play prompt of harm level 0 or 1 is labelled **Caution**;
- everything else is labelled by its true style (accept answers always Accept).

With the embedded default's prompt mix (a quarter of the prompts are role-play rewrites, harm
levels balanced) that teaches Accept for 25% of caution answers and Caution for 12.5% of refuse
answers, so against the true styles the self judge can reach at most about
(1 + 0.75 + 0.875) / 3 = 0.875 accuracy on a uniform style mix, every error on the lenient
side: a higher accept rate than an unbiased judge on harmful prompts. This is the bias the
reliability stage measures.
"""

from __future__ import annotations

import random

from careal.data.styles import STYLES, style_answer
from careal.judges.templates import load_template

#: The label words the tiny judge answers with (each one token of the tiny tokenizer).
LABEL_WORDS = ("Accept", "Caution", "Refuse")

#: style -> (the more lenient label taught, the prompts it is taught on).
SELF_JUDGE_LENIENCY = {
    "caution": ("Accept", {"method": "role_play", "harm_levels": (0, 1, 2, 3)}),
    "refuse": ("Caution", {"method": "role_play", "harm_levels": (0, 1)}),
}

#: Extra tokenizer corpus lines so that each label word is a single BPE token.
LABEL_WORD_REPEATS = 200

TEMPLATE = "compact"


def true_label(style: str) -> str:
    return {"accept": "Accept", "caution": "Caution", "refuse": "Refuse"}[style]


def taught_label(style: str, record: dict) -> str:
    """The label the warm start teaches for an answer of ``style`` to the prompt ``record``."""
    lenient = SELF_JUDGE_LENIENCY.get(style)
    if lenient is not None:
        label, where = lenient
        if record.get("method") == where["method"] and int(record.get("harmful_level", -1)) in where["harm_levels"]:
            return label
    return true_label(style)


def judge_examples(train_records: list[dict], per_prompt: float, seed: int) -> list[dict]:
    """``round(per_prompt * len(train_records))`` judge-task SFT examples, ``{"prompt": filled
    template, "style": "judge", "answer": label word, "answer_style"}``, going through the
    prompts in a seeded shuffled order (again and again when ``per_prompt`` > 1).

    Uses its own random stream (seeded from ``seed``), so the policy's warm-start answers are
    the same with or without these examples.
    """
    template = load_template(TEMPLATE)
    rng = random.Random(f"careal-judge-warm-start-{seed}")
    count = round(per_prompt * len(train_records))
    order: list[dict] = []
    while len(order) < count:
        order += rng.sample(train_records, len(train_records))
    examples = []
    for record in order[:count]:
        style = rng.choice(STYLES)
        answer = style_answer(style, rng)
        label = taught_label(style, record)
        examples.append({"prompt": template.fill(record["prompt"], answer), "style": "judge", "answer": label, "answer_style": style})
    return examples


def tokenizer_corpus(examples: list[dict]) -> list[str]:
    """Lines to add to the tokenizer corpus: the template's words and the label words."""
    return [load_template(TEMPLATE).text] * 20 + [w for w in LABEL_WORDS for _ in range(LABEL_WORD_REPEATS)]


def summary(examples: list[dict]) -> dict:
    """What base.json records about the judge warm start (counts and the documented bias)."""
    taught = {}
    for e in examples:
        taught.setdefault(e["answer_style"], {}).setdefault(e["answer"], 0)
        taught[e["answer_style"]][e["answer"]] += 1
    return {
        "template": TEMPLATE,
        "examples": len(examples),
        "labels_taught_by_style": {s: dict(sorted(taught[s].items())) for s in sorted(taught)},
        "leniency": {s: {"labelled": lab, "method": w["method"], "harm_levels": list(w["harm_levels"])} for s, (lab, w) in SELF_JUDGE_LENIENCY.items()},
    }


def warm_start_task(train_records: list[dict], per_prompt: float, seed: int):
    """The judge task as the tiny model's bootstrap takes it (``careal.policy.tiny.ExtraTask``):
    its examples, tokenizer corpus, the label words that must be single tokens, and its
    summary for base.json (``judge_warm_start``)."""
    from careal.policy.tiny import ExtraTask

    examples = judge_examples(train_records, per_prompt, seed)
    return ExtraTask(name="judge_warm_start", examples=examples, corpus=tokenizer_corpus(examples), single_tokens=LABEL_WORDS, summary=summary(examples))
