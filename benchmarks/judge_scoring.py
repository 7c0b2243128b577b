"""The ``self`` / ``hf`` judges' label scoring against generate-then-parse, on the same model,
template and answers, in one run.

Scoring: one forward pass per batch, the label words' next-token probabilities
(careal/judges/scoring.py). Generate-then-parse: the same rendered prompts, greedy
``generate`` of up to ``--max-new-tokens`` tokens (stopping at end of turn), and the label word
the reply starts with (anything else is Unparsed), which is how a judge that is
asked to "answer with one word" is usually read.

Two generate-then-parse settings run: ``natural`` stops at the end of the turn (the tiny
judge writes its label and stops, so this is the cheapest possible generation), and
``fixed`` writes exactly ``--max-new-tokens`` tokens (``min_new_tokens`` set), the cost of a
judge that adds a short justification, as instruction-tuned judges usually do.

Answers: for each eval prompt, a warm-start answer in a style drawn at random (seeded), so both
paths are also measured against the known styles. Reports wall time of each path (best of
``--repeats``), the speed ratio, label agreement between the two paths and each path's
accuracy against the styles, as one JSON document.

    python benchmarks/judge_scoring.py                      # models/base + models/c0 (self judge)
    python benchmarks/judge_scoring.py --answers 384 --batch-size 32 --max-new-tokens 16
"""

from __future__ import annotations

import json
import random
import time

import click


def parse_label(text: str) -> str:
    """The label a reply starts with (Reject counts as Refuse), else Unparsed."""
    from careal.metrics.scoring import normalize_label

    head = text.strip().lstrip("*:.- ").lower()
    for word in ("accept", "caution", "refuse", "reject"):
        if head.startswith(word):
            return normalize_label(word)
    return "Unparsed"


@click.command()
@click.option("--base", default="models/base", show_default=True, help="Base model folder (bootstrap output).")
@click.option("--policy", default="models/c0", show_default=True, help="Policy folder (adapter or c0): the self judge's model.")
@click.option("--prompts-file", default="data/prepared/eval.jsonl", show_default=True)
@click.option("--answers", "n_answers", default=384, show_default=True, help="How many (prompt, answer) pairs.")
@click.option("--rubric", default="compact", show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--max-new-tokens", default=16, show_default=True, help="Generate-then-parse: reply length cap.")
@click.option("--repeats", default=2, show_default=True, help="Timed runs per path (best is kept).")
@click.option("--seed", default=0, show_default=True)
def main(base, policy, prompts_file, n_answers, rubric, batch_size, max_new_tokens, repeats, seed):
    import torch

    from careal.jsonio import read_jsonl
    from careal.judges.scoring import LabelScorer, render
    from careal.judges.templates import load_template
    from careal.policy.loading import load_policy
    from careal.data.styles import STYLES, style_answer

    torch.set_num_threads(torch.get_num_threads())
    loaded = load_policy(base, policy, device="cpu", dtype="float32")
    template = load_template(rubric)
    rng = random.Random(seed)
    prompts = [r["prompt"] for r in read_jsonl(prompts_file)]
    pairs, gold = [], []
    for i in range(n_answers):
        style = rng.choice(STYLES)
        pairs.append((prompts[i % len(prompts)], style_answer(style, rng)))
        gold.append(style.capitalize())
    scorer = LabelScorer(loaded.model, loaded.tokenizer, loaded.device, template, min_margin=0.0, batch_size=batch_size)

    def scoring():
        return [label for label, _ in scorer.score(pairs)]

    tokenizer, model = loaded.tokenizer, loaded.model
    rendered = [render(tokenizer, template.fill(p, r)) for p, r in pairs]
    lengths = [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(rendered)), key=lambda i: (lengths[i], i))

    def generate_then_parse(min_new_tokens: int = 0):
        labels = [None] * len(rendered)
        tokenizer.padding_side = "left"
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                enc = tokenizer([rendered[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
                out = model.generate(**enc, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None, do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
                texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                for index, text in zip(batch, texts):
                    labels[index] = parse_label(text)
        return labels

    timings, labels = {}, {}
    paths = (("scoring", scoring), ("generate_then_parse", generate_then_parse), ("generate_then_parse_fixed", lambda: generate_then_parse(max_new_tokens)))
    for name, fn in paths:
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            labels[name] = fn()
            best = min(best, time.perf_counter() - started)
        timings[name] = best
    def agreement(other):
        return round(sum(a == b for a, b in zip(labels["scoring"], labels[other])) / len(pairs), 4)

    report = {
        "answers": len(pairs),
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "threads": torch.get_num_threads(),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "answers_per_second": {k: round(len(pairs) / v, 1) for k, v in timings.items()},
        "speed_ratio": {k: round(timings[k] / timings["scoring"], 2) for k in ("generate_then_parse", "generate_then_parse_fixed")},
        "label_agreement_with_scoring": {k: agreement(k) for k in ("generate_then_parse", "generate_then_parse_fixed")},
        "accuracy_vs_styles": {k: round(sum(a == g for a, g in zip(v, gold)) / len(gold), 4) for k, v in labels.items()},
        "unparsed": {k: v.count("Unparsed") for k, v in labels.items()},
    }
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
