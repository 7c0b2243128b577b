"""Working on files outside the pipeline: ``careal label`` (any judge) and ``validate`` (the CARES schema)."""

from __future__ import annotations

import click

from careal.cli.common import counts_line


@click.command()
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
    click.echo(f"label: {output_path}: {counts_line(counts)}")

@click.command()
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
