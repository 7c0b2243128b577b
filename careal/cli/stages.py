"""The pipeline's stages, one command each: what ``stages/*.py`` (and so ``dvc repro``) run.

Each reads params.yaml (``--params``) and works in the current folder, the project root; the
logic is a ``run_*`` function in careal/pipeline.py, imported inside the command.
"""

from __future__ import annotations

import sys

import click

from careal.cli.common import CYCLE_OPTION, PARAMS_OPTION, counts_line, launched, stage_params
from careal.errors import CarealError


@click.command()
@PARAMS_OPTION
def prepare(params_path):
    """Load prompts from data.source, split without leaks, draw train/eval sets."""
    from careal.pipeline import run_prepare

    summary = run_prepare(stage_params(params_path, models=False))
    guard = summary["leak_guard"]
    click.echo(
        f"prepare: {summary['train']['rows']} train / {summary['validation']['rows']} validation / {summary['eval']['rows']} eval prompts from {summary['source']} "
        f"({summary['source_rows']} rows); leak guard dropped {guard['dropped']} train rows"
    )
    if "extra_columns" in summary:
        click.echo(f"prepare: columns not in the CARES schema, not used: {', '.join(summary['extra_columns']['columns'])}")
    if "skipped_rows" in summary:
        click.echo(f"prepare: skipped {summary['skipped_rows']['count']} bad rows (data.on_bad_rows: skip; listed in data/prepared/summary.json)")

@click.command()
@PARAMS_OPTION
def bootstrap(params_path):
    """Build the built-in tiny policy (model.base: builtin:tiny) or record the base model to use."""
    from careal.pipeline import run_bootstrap

    spec = run_bootstrap(stage_params(params_path))
    if "tiny" in spec:
        tiny = spec["tiny"]
        click.echo(f"bootstrap: builtin:tiny, {tiny['parameters']:,} parameters, vocab {tiny['vocab_size']}, SFT loss {tiny['sft_train_loss']:.3f} on {tiny['sft_examples']} examples")
    elif "gguf" in spec:
        g = spec["gguf"]
        click.echo(f"bootstrap: {spec['model']} converted from {g['file']} (sha256 {g['file_sha256'][:12]}, {spec['revision']}) into models/base: {spec['architecture']}, {spec['parameters']:,} parameters, safetensors")
    else:
        click.echo(f"bootstrap: base model {spec['model']} ({spec['weights']})")

@click.command()
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

    stats = run_generate(stage_params(params_path), cycle)
    line = f"generate@{cycle}: {stats['answers']} answers ({stats['backend']} backend"
    if "cache_hits" in stats:
        line += f"; asked {stats['requests']}, from the answer cache {stats['cache_hits']}"
    if stats.get("oom_backoffs"):
        line += f"; out of memory {len(stats['oom_backoffs'])} time(s), batch size lowered to {stats['final_batch_size']}"
    if stats.get("missing"):
        line += f"; {stats['missing']} failed and left out (generate.openai.on_error: skip)"
    click.echo(line + ")")

@click.command("judge-train")
@PARAMS_OPTION
def judge_train(params_path):
    """Train the classifier judge (section judge_train) into models/judge, when a judge uses it.

    Held-out accuracy, macro-F1 and per-class F1 go to metrics/judge_train.json. With no judge
    of kind classifier in params.yaml it trains nothing and says so (about a second).
    """
    from careal.judges.training import classifier_in_use
    from careal.launcher import relaunch_under_accelerate
    from careal.pipeline import run_judge_train

    params = stage_params(params_path)
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
    if info is None or launched():  # a process accelerate launched: the command that launched it reports
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

@click.command()
@CYCLE_OPTION
@PARAMS_OPTION
def judge(cycle, params_path):
    """The training judge labels each answer Accept / Caution / Refuse / Unparsed."""
    from careal.pipeline import run_judge

    counts = run_judge(stage_params(params_path), cycle)
    click.echo(f"judge@{cycle}: {counts_line(counts)}")

@click.command("judge-reliability")
@CYCLE_OPTION
@PARAMS_OPTION
def judge_reliability(cycle, params_path):
    """Training judge vs eval judge (and gold) on cycle cK's answers: metrics/judges/cK.json."""
    from careal.pipeline import run_judge_reliability

    r = run_judge_reliability(stage_params(params_path), cycle)
    kappa = "n/a" if r["kappa"] is None else f"{r['kappa']:.3f}"
    line = f"judge_reliability@{cycle}: {r['train_judge']} vs {r['eval_judge']} on {r['n']} answers: agreement {r['agreement']:.3f}, kappa {kappa}"
    gold = r.get("gold")
    if gold and gold.get("n"):
        line += f"; against {gold['source']} ({gold['n']}): train acc {gold['train']['accuracy']:.3f}, eval acc {gold['eval']['accuracy']:.3f}"
    run = r["eval_judge_run"]
    if "cache_hits" in run:
        line += f"; eval judge judged {run['judged']}, cache hits {run['cache_hits']}"
    click.echo(line)

@click.command()
@CYCLE_OPTION
@PARAMS_OPTION
def pair(cycle, params_path):
    """Turn labels into KTO rows and DPO pairs by the Safety Score table."""
    from careal.pipeline import run_pair

    stats = run_pair(stage_params(params_path, models=False), cycle)
    t = stats["totals"]
    click.echo(f"pair@{cycle}: {stats['kto_rows']} KTO rows ({t['desirable']} desirable, {t['undesirable']} undesirable, {t['neutral']} neutral left out, {t['unparsed']} unparsed left out), {stats['dpo_pairs']} DPO pairs")

@click.command()
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

    params = stage_params(params_path)
    code = relaunch_under_accelerate(params.train, "train", ["train", "--cycle", cycle, "--params", params_path])
    if code is not None:
        if code:
            sys.exit(code)  # the launched processes said why
        import json

        lineage = json.loads(open(f"models/{cycle}/lineage.json", encoding="utf-8").read())
    else:
        lineage = run_train(params, cycle)
        if lineage is None or launched():  # a process accelerate launched: the command that launched it reports
            return
    click.echo(f"train@{cycle}: {lineage['method']} from {lineage['parent']}, {lineage['steps']} steps, loss {lineage['train_loss']:.4f} -> models/{cycle}")

@click.command()
@click.option("-p", "--policy", required=True, help="c0 (the base) or a cycle, e.g. c2.")
@PARAMS_OPTION
def evaluate(policy, params_path):
    """Greedy answers of a policy on the eval split, labelled by the eval judge; metrics/<policy>.json.

    evaluate.backend (hf, openai or vllm) picks what answers, as generate.backend does.
    """
    from careal.pipeline import run_evaluate

    from careal.metrics.report import format_value

    m = run_evaluate(stage_params(params_path), policy)
    click.echo(f"evaluate@{policy}: safety {format_value(m['safety_score'])} (refuse-all {format_value(m['refuse_all_safety'])}), harmful refusal {format_value(m['harmful_refusal_rate'])}, erroneous refusal {format_value(m['erroneous_refusal_rate'])}, discrimination {format_value(m['discrimination'])}")

@click.command()
@PARAMS_OPTION
def summarise(params_path):
    """Across policies: metrics/plots/*.json for `dvc plots`, and metrics/ci/changes.json (every
    policy against c0 and its parent: paired bootstrap intervals, McNemar tests)."""
    from careal.pipeline import run_summarise

    params = stage_params(params_path, models=False)
    written = run_summarise(params)
    click.echo(f"summarise: {len(params.evaluate.policies)} policies -> {', '.join(written)}")
