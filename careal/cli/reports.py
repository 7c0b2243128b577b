"""Reading a run: ``careal report`` (table, HTML page, Markdown), ``status`` and ``sweep``."""

from __future__ import annotations

import click

from careal.cli.common import PARAMS_OPTION, stage_params
from careal.errors import CarealError


@click.command()
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML page (inline SVG charts, no network) to this file.")
@click.option("--md", "markdown", is_flag=True, help="Print a compact Markdown summary (for a pull-request comment).")
@click.option("--against", metavar="REV", help="With --md: show each number's change against this git revision's metrics.")
@click.option("--rev", "revs", metavar="REV", multiple=True, help="With --html: also draw these git revisions on the frontier chart (repeatable).")
@PARAMS_OPTION
def report(html_out, markdown, against, revs, params_path):
    """Print the per-policy metrics table (metrics/*.json, breakdowns from metrics/breakdown/).

    Shows the Safety Score, both refusal rates, discrimination (harmful - erroneous refusal
    rate) and fluency with their 95% intervals (metrics/ci/; a bootstrap over base prompts),
    the bars a refuse-all / accept-all policy would score on the same eval split, and each
    policy's change against c0 and its parent on the same prompts (metrics/ci/changes.json),
    marked * where its paired interval excludes 0. With a person's reviews of eval answers
    (reviews/cK-eval.jsonl, `careal review`), also the judge-corrected figures beside the raw ones.
    """
    from careal.metrics.files import load_breakdowns, load_changes, load_metrics
    from careal.metrics.report import format_markdown, format_report

    params = stage_params(params_path, models=False)
    policies = params.evaluate.policies
    metrics = load_metrics(policies)
    breakdowns = load_breakdowns(policies)
    changes = load_changes()
    if html_out:
        from careal.metrics.htmlreport import write_report_page

        write_report_page(html_out, metrics, breakdowns, revs)
        click.echo(f"report: wrote {html_out}")
    if markdown:
        from careal.metrics.revisions import metrics_at

        click.echo(format_markdown(metrics, metrics_at(against) if against else None, against or "", changes))
    if not html_out and not markdown:
        click.echo(format_report(metrics, breakdowns, changes))
        from careal.review.corrected import corrected_section

        corrected = corrected_section(policies, params.seed)  # issue 25: raw vs judge-corrected (reviews/)
        if corrected:
            click.echo("\n" + corrected)
        from careal.metrics.knowledge import knowledge_table, load_probes

        known = knowledge_table(metrics, load_probes(policies))  # issue 24: the probe beside behaviour
        if known:
            click.echo("\n" + known)

@click.command()
def status():
    """Cycles, which stages are up to date (against dvc.lock) and each policy's headline metrics.

    A fast summary that reads dvc.yaml, dvc.lock and params.yaml and hashes the files itself
    (no DVC or torch import); `dvc status` stays the reference.
    """
    from careal.status import format_status

    click.echo(format_status())

@click.command()
@click.option("--seeds", "seeds_text", default="0,1,2", show_default=True, help="The seeds, comma-separated: one experiment each.")
@click.option("-S", "--set", "sets", multiple=True, metavar="KEY=VALUE", help="A params.yaml value for every seed's experiment, as `dvc exp run -S` (repeatable).")
@click.option("-n", "--name", default="sweep", show_default=True, help="Experiments are named NAME-sSEED; running the same name again replaces them.")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(1), help="Experiments run at a time (one on two cores).")
@click.option("--no-run", is_flag=True, help="Only read back the experiments an earlier sweep of this name made.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write every seed's figures, the aggregate and the bar to this JSON file.")
def sweep(seeds_text, sets, name, jobs, no_run, json_out):
    """The pipeline over several seeds, as DVC experiments: mean and spread per policy.

    Queues `dvc exp run --queue -S seed=N [-S KEY=VALUE ...] -n NAME-sN` for each seed, runs the
    queue (`dvc queue start`) and waits for it, then prints per policy the mean (min..max) and
    the standard deviation over the seeds of the Safety Score, both refusal rates,
    discrimination and fluency, and the balance bar read against the mean and against every
    seed (careal/metrics/seeds.py). Needs a git identity (`careal doctor`). Exit status 0
    whether or not the bar is met; the verdict is the last line (and `bar.met` in --json).

    \b
      careal sweep                                # the workspace's params, seeds 0, 1, 2
      careal sweep -S train.method=kto -n kto     # KTO (its own schedule keys apply)
      careal sweep -n kto --no-run --json kto.json
    """
    from careal.jsonio import write_json
    from careal.metrics.seeds import format_sweep
    from careal.sweep import check_sets, collect, echo_err, parse_seeds, queue_experiments, run_queue, sweep_result

    seeds = parse_seeds(seeds_text)
    check_sets(list(sets))
    if not no_run:
        from careal.doctor import problems

        found = problems()
        if found:
            raise CarealError("sweep: " + "; ".join(found))
        tasks = queue_experiments(name, seeds, list(sets))
        echo_err(f"sweep: queued {len(tasks)} experiment(s) {', '.join(f'{name}-s{s}' for s in seeds)}; running {jobs} at a time")
        run_queue(tasks, jobs, echo=echo_err)
    result = sweep_result(collect(name, seeds), list(sets))
    click.echo(format_sweep(result["summary"], result["bar"], title=f"sweep {name}" + (f" ({' '.join(sets)})" if sets else "")))
    if json_out:
        write_json(json_out, result)
        click.echo(f"sweep: wrote {json_out}")
