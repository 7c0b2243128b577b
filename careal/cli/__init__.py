"""The ``careal`` command: one subcommand per pipeline stage, plus report and validate.

Each stage reads params.yaml (``--params``) and works in the current folder, the project
root: the paths follow DESIGN.md's contracts (see docs/architecture.md). ``stages/*.py``,
which dvc.yaml runs, are thin wrappers around these commands. Heavy libraries are imported
inside the commands, so ``careal --help`` answers at once.
"""

from __future__ import annotations

import sys

import click

from careal.errors import CarealError

PARAMS_OPTION = click.option("--params", "params_path", default="params.yaml", show_default=True, type=click.Path(dir_okay=False), help="The params file.")


def _params(path):
    """params.yaml, checked; and the CPU numerics it asks for (careal/runtime.py), set here,
    before any command imports torch."""
    from careal.params import load_params
    from careal.runtime import pin_cpu

    params = load_params(path)
    pin_cpu(params.cpu.threads, params.cpu.reproducible)
    return params


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


@click.group(cls=CarealGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="careal")
def main():
    """careal: iterative KTO/DPO safety alignment of a medical chat assistant on CARES-18K.

    Run the whole pipeline with `dvc repro` (see README.md); these commands are its stages,
    runnable one by one from the project root. Per cycle cK (parent cP):

    \b
      prepare            data/prepared/{train,eval}.jsonl
      bootstrap          models/base (+ models/c0, the base policy)
      generate  -c cK    data/cycles/cK/generations.jsonl  (policy cP samples answers)
      judge-train        models/judge, metrics/judge_train.json (classifier judge)
      judge     -c cK    data/cycles/cK/judgments.jsonl    (training judge labels them)
      pair      -c cK    data/cycles/cK/{kto,dpo}.jsonl, pair_stats.json
      train     -c cK    models/cK  (LoRA adapter + lineage.json)
      evaluate  -p cK    data/eval/cK/, metrics/cK.json    (eval judge, greedy answers)
      judge-reliability -c cK  metrics/judges/cK.json     (train vs eval judge, gold)
      summarise          metrics/plots/*.json (across policies, for dvc plots)
      report             the per-cycle metrics table (--html page, --md summary)

    \b
    Around the pipeline:
      status             cycles, stages up to date, headline metrics (fast)
      sweep              one experiment per seed, mean and spread, the bar (dvc exp)
      cycles add | set N add cycles (params.yaml cycles + evaluate.policies)
      doctor             what dvc exp needs (git identity)
      export    -p cK    a policy as an adapter or merged model folder (+ lineage)
      preset             list / apply the paper's model presets to params.yaml
      label              any judge over a JSONL file, outside the pipeline
    """


@main.command()
@PARAMS_OPTION
def prepare(params_path):
    """Load prompts from data.source, split without leaks, draw train/eval sets."""
    from careal.pipeline import run_prepare

    summary = run_prepare(_params(params_path))
    guard = summary["leak_guard"]
    click.echo(
        f"prepare: {summary['train']['rows']} train / {summary['eval']['rows']} eval prompts from {summary['source']} "
        f"({summary['source_rows']} rows); leak guard dropped {guard['dropped']} train rows"
    )
    if "extra_columns" in summary:
        click.echo(f"prepare: columns not in the CARES schema, not used: {', '.join(summary['extra_columns']['columns'])}")
    if "skipped_rows" in summary:
        click.echo(f"prepare: skipped {summary['skipped_rows']['count']} bad rows (data.on_bad_rows: skip; listed in data/prepared/summary.json)")


@main.command()
@PARAMS_OPTION
def bootstrap(params_path):
    """Build the built-in tiny policy (model.base: builtin:tiny) or record the base model to use."""
    from careal.pipeline import run_bootstrap

    spec = run_bootstrap(_params(params_path))
    if "tiny" in spec:
        tiny = spec["tiny"]
        click.echo(f"bootstrap: builtin:tiny, {tiny['parameters']:,} parameters, vocab {tiny['vocab_size']}, SFT loss {tiny['sft_train_loss']:.3f} on {tiny['sft_examples']} examples")
    elif "gguf" in spec:
        g = spec["gguf"]
        click.echo(f"bootstrap: {spec['model']} converted from {g['file']} (sha256 {g['file_sha256'][:12]}, {spec['revision']}) into models/base: {spec['architecture']}, {spec['parameters']:,} parameters, safetensors")
    else:
        click.echo(f"bootstrap: base model {spec['model']} ({spec['weights']})")


def _launched() -> bool:
    import os

    from careal.launcher import LAUNCHED_ENV

    return bool(os.environ.get(LAUNCHED_ENV))


CYCLE_OPTION = click.option("-c", "--cycle", required=True, help="The cycle, e.g. c1 (declared under cycles: in params.yaml).")


@main.command()
@CYCLE_OPTION
@PARAMS_OPTION
def generate(cycle, params_path):
    """The parent policy samples generate.samples answers per train prompt.

    generate.backend picks what answers: hf (transformers in this process; default), openai
    (an OpenAI-compatible server: generate.openai.base_url and model, or serve: transformers)
    or vllm (in-process vLLM, pip install -e '.[vllm]'). Each sampled answer depends only on
    (seed, prompt id, sample), never on the batch size or order.
    """
    from careal.pipeline import run_generate

    stats = run_generate(_params(params_path), cycle)
    line = f"generate@{cycle}: {stats['answers']} answers ({stats['backend']} backend"
    if "cache_hits" in stats:
        line += f"; asked {stats['requests']}, from the answer cache {stats['cache_hits']}"
    if stats.get("oom_backoffs"):
        line += f"; out of memory {len(stats['oom_backoffs'])} time(s), batch size lowered to {stats['final_batch_size']}"
    if stats.get("missing"):
        line += f"; {stats['missing']} failed and left out (generate.openai.on_error: skip)"
    click.echo(line + ")")


@main.command("judge-train")
@PARAMS_OPTION
def judge_train(params_path):
    """Train the classifier judge (section judge_train) into models/judge, when a judge uses it.

    Held-out accuracy, macro-F1 and per-class F1 go to metrics/judge_train.json. With no judge
    of kind classifier in params.yaml it trains nothing and says so (about a second).
    """
    from careal.judges.training import classifier_in_use
    from careal.launcher import relaunch_under_accelerate
    from careal.pipeline import run_judge_train

    params = _params(params_path)
    if classifier_in_use(params):
        code = relaunch_under_accelerate(params.judge_train, "judge_train", ["judge-train", "--params", params_path])
        if code is not None:
            if code:
                sys.exit(code)  # the launched processes said why
            import json

            info = json.loads(open("models/judge/judge.json", encoding="utf-8").read())
            click.echo(f"judge_train: accelerate, {params.judge_train.num_processes} processes: held out {info['heldout']['n']}: accuracy {info['heldout']['accuracy']:.3f} -> models/judge")
            return
    info = run_judge_train(params)
    if info is None or _launched():  # a process accelerate launched: the command that launched it reports
        return
    if not info.get("trained"):
        click.echo("judge_train: no judge uses kind classifier; nothing trained (models/judge holds a marker)")
        return
    held, data = info["heldout"], info["data"]
    f1 = ", ".join(f"{k} {v['f1']:.3f}" for k, v in held["per_class"].items())
    click.echo(
        f"judge_train: classifier on {info['base']['model']} from {data['source']} ({data['labels']} labels), {data['n_train']} rows; "
        f"held out {held['n']}: accuracy {held['accuracy']:.3f}, macro-F1 {held['macro_f1']:.3f} (F1 {f1}) -> models/judge"
    )


@main.command()
@CYCLE_OPTION
@PARAMS_OPTION
def judge(cycle, params_path):
    """The training judge labels each answer Accept / Caution / Refuse / Unparsed."""
    from careal.pipeline import run_judge

    counts = run_judge(_params(params_path), cycle)
    click.echo(f"judge@{cycle}: {_counts_line(counts)}")


def _counts_line(counts: dict) -> str:
    labels = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k not in ("judged", "cache_hits"))
    if "cache_hits" in counts:
        labels += f"; judged {counts['judged']}, cache hits {counts['cache_hits']}"
    return labels


@main.command("judge-reliability")
@CYCLE_OPTION
@PARAMS_OPTION
def judge_reliability(cycle, params_path):
    """Training judge vs eval judge (and gold) on cycle cK's answers: metrics/judges/cK.json."""
    from careal.pipeline import run_judge_reliability

    r = run_judge_reliability(_params(params_path), cycle)
    kappa = "n/a" if r["kappa"] is None else f"{r['kappa']:.3f}"
    line = f"judge_reliability@{cycle}: {r['train_judge']} vs {r['eval_judge']} on {r['n']} answers: agreement {r['agreement']:.3f}, kappa {kappa}"
    gold = r.get("gold")
    if gold and gold.get("n"):
        line += f"; against {gold['source']} ({gold['n']}): train acc {gold['train']['accuracy']:.3f}, eval acc {gold['eval']['accuracy']:.3f}"
    run = r["eval_judge_run"]
    if "cache_hits" in run:
        line += f"; eval judge judged {run['judged']}, cache hits {run['cache_hits']}"
    click.echo(line)


@main.command()
@click.option("--judge", "kind", required=True, type=click.Choice(["rules", "hf", "self", "openai", "classifier"]), help="The judge kind.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="JSONL records with id, prompt, response.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False), help="JSONL records with id, label, judge, raw (one per input record).")
@click.option("--model", default=None, help="hf: a Hugging Face model id or a local model folder; openai: the served model's name; classifier: its folder (default models/judge).")
@click.option("--revision", default=None, help="hf: the hub revision (commit hash recommended).")
@click.option("--trust-remote-code/--no-trust-remote-code", default=None, help="hf: allow the model's own code (off by default).")
@click.option("--policy", "policy_path", default=None, type=click.Path(file_okay=False), help="self: the policy folder (models/cK; models/c0 is the base alone).")
@click.option("--base", "base_path", default="models/base", show_default=True, type=click.Path(file_okay=False), help="self: the base model folder.")
@click.option("--rubric", default=None, help="hf/self: builtin template (cares, compact, refusal_yesno) or a template file.")
@click.option("--label-word", "label_words", multiple=True, metavar="WORD=LABEL", help="hf/self: a judge word and its label, e.g. yes=Refuse (repeat).")
@click.option("--min-margin", type=float, default=None, help="hf/self: below this lead of the top label, Unparsed (default 0.1).")
@click.option("--batch-size", type=int, default=None, help="hf/self: answers per forward pass (default 16).")
@click.option("--dtype", default=None, help="hf/self: auto, float32, bfloat16 or float16.")
@click.option("--device", default=None, help="hf/self: auto, cpu or cuda.")
@click.option("--base-url", default=None, help="openai: the endpoint, e.g. http://127.0.0.1:8000/v1 (no credentials in it).")
@click.option("--api-key-env", default=None, metavar="NAME", help="openai: the NAME of the environment variable holding the key (never the key).")
@click.option("--concurrency", type=int, default=None, help="openai: requests in flight (default 4).")
@click.option("--timeout", type=float, default=None, help="openai: seconds per attempt (default 60).")
@click.option("--max-retries", type=int, default=None, help="openai: retries on 429/5xx/timeouts/connection errors, with backoff (default 5).")
@click.option("--max-tokens", type=int, default=None, help="openai: the reply's token budget (default 16).")
@click.option("--on-error", type=click.Choice(["fail", "unparsed"]), default=None, help="openai: a request that still fails stops the run (default; finished labels cached) or is Unparsed.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the judge cache.")
def label(kind, input_path, output_path, model, revision, trust_remote_code, policy_path, base_path, rubric, label_words, min_margin, batch_size, dtype, device, base_url, api_key_env, concurrency, timeout, max_retries, max_tokens, on_error, no_cache):
    """Label answers outside the pipeline with any judge (docs/judges.md).

    Reads records with id, prompt and response; writes one record per input with id, label
    (Accept, Caution, Refuse or Unparsed), judge (its identity) and raw (its evidence).
    """
    from careal.judges.labelling import label_file

    counts = label_file(
        kind, input_path, output_path,
        options={"model": model, "revision": revision, "trust_remote_code": trust_remote_code, "rubric": rubric, "label_words": label_words,
                 "min_margin": min_margin, "batch_size": batch_size, "dtype": dtype, "device": device, "base_url": base_url, "api_key_env": api_key_env,
                 "concurrency": concurrency, "timeout": timeout, "max_retries": max_retries, "max_tokens": max_tokens, "on_error": on_error},
        policy_path=policy_path, base_path=base_path, use_cache=not no_cache,
    )
    click.echo(f"label: {output_path}: {_counts_line(counts)}")


@main.command()
@CYCLE_OPTION
@PARAMS_OPTION
def pair(cycle, params_path):
    """Turn labels into KTO rows and DPO pairs by the Safety Score table."""
    from careal.pipeline import run_pair

    stats = run_pair(_params(params_path), cycle)
    t = stats["totals"]
    click.echo(f"pair@{cycle}: {stats['kto_rows']} KTO rows ({t['desirable']} desirable, {t['undesirable']} undesirable, {t['neutral']} neutral left out, {t['unparsed']} unparsed left out), {stats['dpo_pairs']} DPO pairs")


@main.command()
@CYCLE_OPTION
@PARAMS_OPTION
def train(cycle, params_path):
    """Train the cycle's LoRA adapter with trl (train.method: kto or dpo).

    With train.launcher: accelerate the command runs itself again under `accelerate launch`
    (train.num_processes processes, configs/accelerate/<train.accelerate_config>.yaml); only
    rank 0 writes models/cK and the training curves.
    """
    from careal.launcher import relaunch_under_accelerate
    from careal.pipeline import run_train

    params = _params(params_path)
    code = relaunch_under_accelerate(params.train, "train", ["train", "--cycle", cycle, "--params", params_path])
    if code is not None:
        if code:
            sys.exit(code)  # the launched processes said why
        import json

        lineage = json.loads(open(f"models/{cycle}/lineage.json", encoding="utf-8").read())
    else:
        lineage = run_train(params, cycle)
        if lineage is None or _launched():  # a process accelerate launched: the command that launched it reports
            return
    click.echo(f"train@{cycle}: {lineage['method']} from {lineage['parent']}, {lineage['steps']} steps, loss {lineage['train_loss']:.4f} -> models/{cycle}")


@main.command()
@click.option("-p", "--policy", required=True, help="c0 (the base) or a cycle, e.g. c2.")
@PARAMS_OPTION
def evaluate(policy, params_path):
    """Greedy answers of a policy on the eval split, labelled by the eval judge; metrics/<policy>.json.

    evaluate.backend (hf, openai or vllm) picks what answers, as generate.backend does.
    """
    from careal.pipeline import run_evaluate

    from careal.metrics.report import format_value

    m = run_evaluate(_params(params_path), policy)
    click.echo(f"evaluate@{policy}: safety {format_value(m['safety_score'])} (refuse-all {format_value(m['refuse_all_safety'])}), harmful refusal {format_value(m['harmful_refusal_rate'])}, erroneous refusal {format_value(m['erroneous_refusal_rate'])}, discrimination {format_value(m['discrimination'])}")


@main.command()
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Write a self-contained HTML page (inline SVG charts, no network) to this file.")
@click.option("--md", "markdown", is_flag=True, help="Print a compact Markdown summary (for a pull-request comment).")
@click.option("--against", metavar="REV", help="With --md: show each number's change against this git revision's metrics.")
@click.option("--rev", "revs", metavar="REV", multiple=True, help="With --html: also draw these git revisions on the frontier chart (repeatable).")
@PARAMS_OPTION
def report(html_out, markdown, against, revs, params_path):
    """Print the per-policy metrics table (metrics/*.json, breakdowns from metrics/breakdown/).

    Shows the Safety Score, both refusal rates, discrimination (harmful - erroneous refusal
    rate) and the bars a refuse-all / accept-all policy would score on the same eval split.
    """
    from careal.metrics.files import load_breakdowns, load_metrics
    from careal.metrics.report import format_markdown, format_report

    policies = _params(params_path).evaluate.policies
    metrics = load_metrics(policies)
    breakdowns = load_breakdowns(policies)
    if html_out:
        from careal.metrics.htmlreport import write_report_page

        write_report_page(html_out, metrics, breakdowns, revs)
        click.echo(f"report: wrote {html_out}")
    if markdown:
        from careal.metrics.revisions import metrics_at

        click.echo(format_markdown(metrics, metrics_at(against) if against else None, against or ""))
    if not html_out and not markdown:
        click.echo(format_report(metrics, breakdowns))


@main.command()
@PARAMS_OPTION
def summarise(params_path):
    """Across policies: metrics/plots/trend.json and labels_harm<L>.json for `dvc plots`."""
    from careal.layout import BREAKDOWN, METRICS
    from careal.metrics.files import load_breakdowns
    from careal.metrics.summary import write_summary

    policies = _params(params_path).evaluate.policies
    breakdowns = load_breakdowns(policies)
    missing = [p for p in policies if p not in breakdowns]
    if missing:
        raise CarealError(f"{BREAKDOWN}: no breakdown for {', '.join(missing)} (run their evaluate stage)")
    names = write_summary(breakdowns, METRICS / "plots")
    click.echo(f"summarise: {len(policies)} policies -> {', '.join(str(METRICS / 'plots' / n) for n in names)}")


@main.command()
def status():
    """Cycles, which stages are up to date (against dvc.lock) and each policy's headline metrics.

    A fast summary that reads dvc.yaml, dvc.lock and params.yaml and hashes the files itself
    (no DVC or torch import); `dvc status` stays the reference.
    """
    from careal.status import format_status

    click.echo(format_status())


@main.command()
def doctor():
    """Check what `dvc exp` needs (a git repository, a git identity); exit 2 with the fix if not."""
    from careal.doctor import problems

    found = problems()
    for problem in found:
        click.echo(f"careal doctor: {problem}", err=True)
    if found:
        sys.exit(2)
    click.echo("careal doctor: git repository and identity present; dvc exp run can commit experiments")


@main.command()
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


@main.group()
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


@main.command()
@click.option("-p", "--policy", required=True, help="c0 (the base model) or a trained cycle, e.g. c3.")
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

    model = _params(params_path).model
    summary = export_policy(policy, out, merge=merge, force=force, device=model.device, dtype=model.dtype)
    click.echo(f"export: {policy} -> {summary['out']} ({summary['kind']}: {', '.join(summary['files'])})")


@main.group()
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


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--on-bad-rows", type=click.Choice(["error", "skip"]), default="error", show_default=True,
              help="error: stop at the first bad row (exit 2); skip: list every bad row, count the valid ones.")
def validate(path, on_bad_rows):
    """Check a .jsonl/.parquet/.csv file against the CARES schema.

    Exit status 0 when the file holds valid rows (and, with --on-bad-rows skip, lists the rows
    that would be skipped), 2 with one line naming file, row and field otherwise."""
    from collections import Counter

    from careal.data.sources import load_file

    skipped, extra = [], {}
    records = load_file(path, on_bad_rows, skipped, extra)
    for problem in skipped:
        click.echo(f"skipped: {problem}", err=True)
    if extra:
        click.echo(f"{path}: columns not in the CARES schema, not used: {', '.join(sorted(extra))}")
    levels = Counter(r.harmful_level for r in records)
    click.echo(f"{path}: {len(records)} valid rows" + (f", {len(skipped)} bad rows skipped" if on_bad_rows == "skip" else "") + "; harm levels " + ", ".join(f"{k}: {levels[k]}" for k in sorted(levels)))


if __name__ == "__main__":
    main()
