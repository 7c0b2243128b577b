"""Managing the project around the pipeline: ``careal cycles``, ``preset``, ``export`` and ``doctor``."""

from __future__ import annotations

import sys

import click

from careal.cli.common import PARAMS_OPTION, stage_params


@click.group()
def cycles():
    """Add cycles or set their number: rewrites `cycles` and `evaluate.policies` in params.yaml
    together, keeping comments. Then `dvc repro` runs only the new cycles' stages."""


@cycles.command("add")
@click.argument("count", type=int, default=1)
@PARAMS_OPTION
def cycles_add(count, params_path):
    """Append COUNT cycles (default 1), each starting from the one before."""
    from careal.cycles import add_cycles

    added = add_cycles(params_path, count)
    click.echo(f"cycles: added {', '.join(added)} to {params_path} (cycles and evaluate.policies); run dvc repro")


@cycles.command("set")
@click.argument("count", type=int)
@PARAMS_OPTION
def cycles_set(count, params_path):
    """Make the cycles exactly c1..cCOUNT (COUNT 0: only the base policy c0)."""
    from careal.cycles import set_cycles

    names = set_cycles(params_path, count)
    click.echo(f"cycles: {', '.join(names) or 'none'} in {params_path}; evaluate.policies: c0{''.join(', ' + n for n in names)}")

@click.group()
def preset():
    """Presets for the paper's models (Llama-3.2-3B, Llama-3.1-8B, Meditron3-8B, Mistral-7B)."""


@preset.command("list")
def preset_list():
    """List the presets and the model each one sets."""
    from careal.presets import PRESETS

    for p in PRESETS.values():
        click.echo(f"{p.name:<16} {p.model}")


@preset.command("apply")
@click.argument("name")
@PARAMS_OPTION
def preset_apply(name, params_path):
    """Rewrite only the keys preset NAME sets in params.yaml (comments and other keys kept)."""
    from careal.presets import apply_preset

    changed = apply_preset(name, params_path)
    click.echo(f"preset {name}: {len(changed)} key(s) changed in {params_path}" + (f": {', '.join(changed)}" if changed else ""))

@click.command()
@click.option("-p", "--policy", required=True, help="c0 (the base model), a trained cycle, e.g. c3, or selected (the select stage's choice).")
@click.option("--merge", is_flag=True, help="Merge the LoRA adapter into the base weights: a plain transformers model folder.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.argument("out", type=click.Path(file_okay=False))
@PARAMS_OPTION
def export(policy, merge, force, out, params_path):
    """Write policy cK to OUT with its lineage.json and a model card.

    Without --merge: the LoRA adapter and tokenizer, loadable with
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(<base>), OUT).
    With --merge: one model folder (safetensors), loadable with
    AutoModelForCausalLM.from_pretrained(OUT) alone. c0 exports the base model.
    OUT appears only when complete.
    """
    from careal.policy.export import export_policy

    model = stage_params(params_path).model
    summary = export_policy(policy, out, merge=merge, force=force, device=model.device, dtype=model.dtype)
    click.echo(f"export: {policy} -> {summary['out']} ({summary['kind']}: {', '.join(summary['files'])})")

@click.command()
def doctor():
    """Check what `dvc exp` needs (a git repository, a git identity); exit 2 with the fix if not."""
    from careal.doctor import problems

    found = problems()
    for problem in found:
        click.echo(f"careal doctor: {problem}", err=True)
    if found:
        sys.exit(2)
    click.echo("careal doctor: git repository and identity present; dvc exp run can commit experiments")
