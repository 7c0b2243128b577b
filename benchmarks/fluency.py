"""How much of the tiny policy's language survives the cycles (embedded default only): the share
of answers that follow one of the warm start's templates exactly (``careal.data.styles.warm_start_form``),
per policy, for its greedy eval answers and for the answers sampled from it (temperature 1) that
the next cycle judges and trains on.

The judges read an answer by its opening ("I'm sorry, but I. Then, but I." is a Refuse to the
rules judge), so a policy can score well while its text degrades; read the Safety Score beside
this table.

    python benchmarks/fluency.py                 # every policy in params.yaml's evaluate.policies
    python benchmarks/fluency.py c0 c3 --top 5
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click


def _share(path: Path) -> tuple[float, int, Counter]:
    from careal.jsonio import read_jsonl
    from careal.data.styles import warm_start_form

    answers = [row["response"] for row in read_jsonl(path)]
    off = Counter(a for a in answers if warm_start_form(a) is None)
    return 1 - sum(off.values()) / len(answers), len(answers), off


@click.command()
@click.argument("policies", nargs=-1)
@click.option("--top", default=3, show_default=True, help="Most frequent off-template answers to show per policy.")
def main(policies, top):
    """Needs a reproduced project (data/eval/cK/answers.jsonl, data/cycles/cK/generations.jsonl).
    POLICIES: c0, c1, ... (default: params.yaml's evaluate.policies)."""
    from careal.params import load_params

    params = load_params("params.yaml")
    policies = policies or params.evaluate.policies
    sampled_by = {prev: name for name, prev in params.cycles.items()}  # cP -> the cycle sampling from it
    click.echo("| policy | eval answers on template | answers sampled from it on template | most frequent off-template eval answers |")
    click.echo("| --- | --- | --- | --- |")
    for policy in policies:
        eval_share, n, off = _share(Path("data/eval") / policy / "answers.jsonl")
        sampled = Path("data/cycles") / sampled_by.get(policy, "-") / "generations.jsonl"
        sampled_text = "n/a"
        if policy in sampled_by and sampled.exists():
            sampled_share, m, _ = _share(sampled)
            sampled_text = f"{sampled_share:.3f} of {m}"
        shown = "; ".join(f"{text!r} x{count}" for text, count in off.most_common(top)) or "-"
        click.echo(f"| {policy} | {eval_share:.3f} of {n} | {sampled_text} | {shown} |")


if __name__ == "__main__":
    main()
