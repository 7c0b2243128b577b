"""``careal validation -p cK`` and ``careal select`` (the stages ``validation@cK`` and ``select``),
and ``careal select --experiments`` (the rule over DVC experiments); careal/selection.py."""

from __future__ import annotations

import click

from careal.cli.common import PARAMS_OPTION, stage_params


@click.command()
@click.option("-p", "--policy", required=True, help="c0 or a cycle of evaluate.policies.")
@PARAMS_OPTION
def validation(policy, params_path):
    """Greedy answers of a policy on the validation split, labelled by every validator (judge.select, select.other_validators): data/validation/<policy>/."""
    from careal.selection import run_validation

    stats = run_validation(stage_params(params_path), policy)
    if "skipped" in stats:
        click.echo(f"validation@{policy}: {stats['skipped']}")
        return
    click.echo(f"validation@{policy}: {stats['answers']} answers; " + "; ".join(
        f"{where}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k in ("Accept", "Caution", "Refuse", "Unparsed")) for where, c in stats["labels"].items()))


@click.command("select")
@click.option("--experiments", is_flag=True, help="Apply the rule across DVC experiments (their metrics/selected.json) instead of running the stage.")
@click.option("-n", "--name", "names", multiple=True, help="--experiments: only these experiments, or a sweep's name (dpo -> dpo-s0, dpo-s1, ...); repeatable. Default: every experiment.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="--experiments: also write the whole result as JSON here.")
@PARAMS_OPTION
def select(experiments, names, json_path, params_path):
    """Pick the policy to ship on the validation split (docs/selection.md).

    Without --experiments: the select stage. Each policy's validation figures (judge.select,
    95% intervals), the rule of params `select` (erroneous refusal at most c0's + a tolerance,
    fluency at least a share of c0's, the highest Safety Score, no switch to a later cycle
    within noise, ties to the earlier), metrics/selected.json (with the chosen policy's
    eval-split figures, the unbiased estimate) and models/selected (DVC artifact
    policy-selected).

    With --experiments: the same rule over DVC experiments (e.g. `careal sweep` runs, KTO vs
    DPO), one table and choice per validator the experiments recorded.
    """
    from careal.selection import format_selection

    if experiments:
        from careal.params import load_params
        from careal.selection import experiment_revs, select_experiments

        s = load_params(params_path).select
        result = select_experiments(experiment_revs(list(names) or None), s.max_erroneous_increase, s.min_fluency_ratio, s.noise_guard)
        for exp, note in result["skipped"].items():
            click.echo(f"select: {exp} left out: {note}")
        for index, sel in enumerate(result["selections"]):
            role = "decides" if index == 0 else "recorded"
            click.echo("\n".join(format_selection(sel["candidates"], sel["selected"], f"validator {sel['validator']} ({role}): validation figures, 95% intervals")))
            click.echo(_choice_line(sel["selected"], sel["eval_estimate"]))
            click.echo("")
        if len(result["selections"]) > 1:
            picks = ", ".join(f"{s['validator']} -> {s['selected']}" for s in result["selections"])
            click.echo(f"select: the validators {'agree' if result['validators_agree'] else 'DISAGREE'}: {picks}")
        if json_path:
            from careal.jsonio import write_json

            write_json(json_path, result)
        return
    if names or json_path:
        raise click.UsageError("--name and --json go with --experiments")
    from careal.selection import run_select

    record = run_select(stage_params(params_path, models=False))
    if record["selected"] is None and "note" in record:
        click.echo(f"select: {record['note']}")
        return
    for index, v in enumerate(record["by_validator"]):
        role = "decides" if index == 0 else "recorded"
        click.echo("\n".join(format_selection(v["candidates"], v["selected"], f"validator {v['where']} = {v['name']} ({role}): validation figures, 95% intervals")))
    click.echo(_choice_line(record["selected"], record.get("eval_estimate")))


def _choice_line(selected, estimate) -> str:
    if not selected:
        return "select: no candidate is eligible"
    line = f"select: {selected}"
    figures = (estimate or {}).get("figures") or {}
    intervals = (estimate or {}).get("intervals") or {}
    if figures:
        cell = intervals.get("safety_score") or {}
        span = f" [{cell['lo']:.2f}, {cell['hi']:.2f}]" if cell.get("lo") is not None else ""
        line += f"; on the eval split (unbiased): Safety Score {figures['safety_score']:.3f}{span}, erroneous refusal {figures['erroneous_refusal_rate']:.3f}"
    return line

