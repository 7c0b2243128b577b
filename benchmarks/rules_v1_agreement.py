"""Does the current rules judge label the embedded tiny policy's answers as version 1 did?

The committed pipeline results were judged with rules v1. The tiny policy answers in careal.policy.tiny's
three warm-start styles, and a sampled model also mixes them (cut-off templates, prompt words,
two styles in one answer). This script loads v1 from git (the last commit that had it) and compares
its labels with the current judge's on: every template answer, random recombinations of template
answers, and recombinations with synthetic prompt text; optionally also on generation files.

    python benchmarks/rules_v1_agreement.py
    python benchmarks/rules_v1_agreement.py --generations data/cycles/c1/generations.jsonl
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click

V1_COMMIT = "e08fd9b"
V1_PATH = "careal/judges/rules.py"


def load_v1(commit: str):
    source = subprocess.run(["git", "show", f"{commit}:{V1_PATH}"], check=True, capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location("careal_rules_v1", fh.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    Path(fh.name).unlink()
    return module.RulesJudge()


def recombinations(n: int, seed: int):
    from careal.data import styles, synthetic

    rng = random.Random(seed)
    templates = sorted({styles.style_answer(s, random.Random(i)) for s in styles.STYLES for i in range(600)})
    prompts = [r["prompt"] for r in synthetic.generate_prompts(seed=0, base_prompts_per_cell=4)]
    template_words = " ".join(templates).split()
    prompt_words = " ".join(prompts).split()
    for i in range(n):
        kind = i % 4
        a, b = rng.choice(templates).split(), rng.choice(templates).split()
        if kind == 0:  # the head of one answer, the tail of another
            yield "templates", " ".join(a[: rng.randint(0, len(a))] + b[rng.randint(0, len(b)) :])
        elif kind == 1:  # template words in random order
            yield "templates", " ".join(rng.choice(template_words) for _ in range(rng.randint(1, 20)))
        elif kind == 2:  # prompt text between two template pieces
            p = rng.choice(prompts).split()
            lo = rng.randint(0, len(p))
            yield "with_prompts", " ".join(a[: rng.randint(0, len(a))] + p[lo : rng.randint(lo, len(p))] + b[rng.randint(0, len(b)) :])
        else:  # template and prompt words mixed
            yield "with_prompts", " ".join(rng.choice(template_words if rng.random() < 0.7 else prompt_words) for _ in range(rng.randint(1, 30)))


@click.command()
@click.option("--n", default=50000, show_default=True, help="Random recombinations to compare.")
@click.option("--seed", default=0, show_default=True)
@click.option("--v1-commit", default=V1_COMMIT, show_default=True, help="A commit with rules v1.")
@click.option("--generations", "generation_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Also compare on these generation files (JSONL with 'response').")
@click.option("--show", default=5, show_default=True, help="Print this many disagreements per set.")
def main(n, seed, v1_commit, generation_files, show):
    """Compare rules v1 and the current rules judge on the tiny policy's kind of answers."""
    from careal.data import styles
    from careal.judges.rules import RULES_VERSION, RulesJudge

    old, new = load_v1(v1_commit), RulesJudge()
    sets: dict[str, list[str]] = {"template_answers": sorted({styles.style_answer(s, random.Random(i)) for s in styles.STYLES for i in range(600)})}
    for name, text in recombinations(n, seed):
        sets.setdefault(name, []).append(text)
    for path in generation_files:
        sets[str(path)] = [json.loads(line)["response"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    click.echo(f"rules v1 ({v1_commit}) against rules v{RULES_VERSION}")
    for name, texts in sets.items():
        changes = Counter()
        examples = []
        for text in texts:
            a, b = old.label(text)[0], new.label(text)[0]
            if a != b:
                changes[(a, b)] += 1
                if len(examples) < show:
                    examples.append((a, b, text))
        total = sum(changes.values())
        click.echo(f"{name}: {len(texts)} answers, {total} labelled differently ({100 * total / max(len(texts), 1):.3f}%)" + (f": {dict((f'{a}->{b}', c) for (a, b), c in changes.items())}" if total else ""))
        for a, b, text in examples:
            click.echo(f"    {a} -> {b}: {text[:160]!r}")


if __name__ == "__main__":
    main()
