"""What every ``careal`` command shares: the options, params loading with the CPU pin, and the
group class that turns careal's errors into one line."""

from __future__ import annotations

import sys

import click

from careal.errors import CarealError

PARAMS_OPTION = click.option("--params", "params_path", default="params.yaml", show_default=True, type=click.Path(dir_okay=False), help="The params file.")

CYCLE_OPTION = click.option("-c", "--cycle", required=True, help="The cycle, e.g. c1 (declared under cycles: in params.yaml).")


def stage_params(path, models: bool = True):
    """params.yaml, checked; and the CPU numerics it asks for (careal/runtime.py), set here,
    before any command imports torch (for a command that runs ``models``, on a CPU that is not
    Intel's, the process restarts once with MKL's vendor shim: runtime.use_intel_mkl_path)."""
    from careal.params import load_params
    from careal.runtime import pin_cpu, use_intel_mkl_path

    params = load_params(path)
    pin_cpu(params.cpu.threads, params.cpu.reproducible)
    if models and params.cpu.reproducible:
        use_intel_mkl_path()
    return params


def launched() -> bool:
    import os

    from careal.launcher import LAUNCHED_ENV

    return bool(os.environ.get(LAUNCHED_ENV))


def counts_line(counts: dict) -> str:
    labels = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k not in ("judged", "cache_hits"))
    if "cache_hits" in counts:
        labels += f"; judged {counts['judged']}, cache hits {counts['cache_hits']}"
    return labels


class CarealGroup(click.Group):
    """Turns careal's own errors into a one-line message and exit status 2."""

    def invoke(self, ctx):
        from careal.quiet import silence_third_party_deprecations

        silence_third_party_deprecations()
        try:
            return super().invoke(ctx)
        except CarealError as exc:
            click.echo(f"careal: error: {exc}", err=True)
            sys.exit(2)
