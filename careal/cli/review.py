"""``careal review``: a person checks the judge's labels (docs/review.md): the local review
page, and Label Studio's import and export."""

from __future__ import annotations

import click

CYCLE = click.option("-c", "--cycle", required=True, help="eval answers: the policy (c0 or a cycle, e.g. c3); train answers: the cycle (c1, c2, ...).")
ANSWERS = click.option("--answers", type=click.Choice(["eval", "train"]), default="eval", show_default=True,
                       help="eval: the policy's greedy answers on the eval split (data/eval/cK), the ones the figures rest on; "
                            "train: the cycle's sampled answers (data/cycles/cK), the ones it trained on.")
SIZE = click.option("-n", "--size", type=click.IntRange(1), default=40, show_default=True, help="Answers in the review sample.")
SEED = click.option("--seed", type=int, default=0, show_default=True, help="The sample's seed (the same seed and size give the same sample).")


def _sample(cycle: str, answers: str, size: int, seed: int) -> list[dict]:
    from careal.review.sample import load_answers, sample_of

    return sample_of(load_answers(cycle, answers), size, seed)


@click.group()
def review():
    """Review the judge's labels by hand: verdicts in reviews/cK-eval.jsonl or cK-train.jsonl.

    The sample is seeded and stratified by harm level and judge label. The review files are
    data under git: judge_reliability@cK measures each judge against them, `careal report`
    corrects the refusal rates for the eval judge's errors, and pair.review_overrides (off by
    default) trains on the person's labels. See docs/review.md.
    """


@review.command("serve")
@CYCLE
@ANSWERS
@SIZE
@SEED
@click.option("--reviewer", default=None, help="Your name in the review file (default: your login name).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
def serve(cycle, answers, size, seed, reviewer, port):
    """Open the review page: a local web server on 127.0.0.1 with a random token in its URL.

    Open the printed URL in a browser on this machine. For each answer it shows the prompt,
    harm level, method, the answer and the judge's label with its evidence; keys a / c / r set
    Accept / Caution / Refuse, s skips. Each verdict is written to reviews/<cycle>-<answers>.jsonl
    at once (atomically); starting again with the same options resumes at the first answer
    without a verdict. Stop the server with Ctrl+C.
    """
    import getpass

    from careal.review.server import serve as run_server
    from careal.review.session import ReviewSession
    from careal.review.store import ReviewStore, review_path

    store = ReviewStore(review_path(cycle, answers))
    sample = _sample(cycle, answers, size, seed)
    title = f"careal review: {cycle} {answers} answers, sample of {len(sample)} (seed {seed})"
    session = ReviewSession(sample, store, reviewer or getpass.getuser(), title)
    state = session.state()

    def ready(url: str) -> None:
        click.echo(f"review: {state['done']}/{state['size']} of the sample reviewed; verdicts go to {store.path}")
        click.echo(f"review: open {url}  (this machine only; the token in it is the key; Ctrl+C stops)")

    run_server(session, port=port, ready=ready)


@review.command("export")
@CYCLE
@ANSWERS
@SIZE
@SEED
@click.option("--label-studio", "out", required=True, type=click.Path(dir_okay=False), help="The Label Studio tasks file to write (JSON); the labelling config goes beside it (.label-config.xml).")
def export(cycle, answers, size, seed, out):
    """Write the review sample's answers without a verdict yet as a Label Studio import file.

    Create a Label Studio project with the labelling config written beside OUT, import OUT,
    annotate, export the project as JSON and bring the verdicts back with `careal review import`.
    """
    from careal.review.labelstudio import export_tasks
    from careal.review.store import ReviewStore, review_path

    store = ReviewStore(review_path(cycle, answers))
    todo = [item for item in _sample(cycle, answers, size, seed) if item["key"] not in store]
    tasks, config = export_tasks(todo, cycle, answers, out)
    click.echo(f"review: {len(todo)} task(s) -> {tasks}; labelling config -> {config}")


@review.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
def import_(path):
    """Read Label Studio's JSON export (PATH) into the review files.

    Each task exported by `careal review export` knows its cycle, answer set and answer; its
    latest annotation that was not cancelled becomes the verdict (reviewer label-studio:<user>).
    """
    from careal.review.labelstudio import import_export

    counts = import_export(path)
    for file, n in counts["files"].items():
        click.echo(f"review: {file}: {n} verdict(s) in the file")
    click.echo(f"review: imported {counts['written']} verdict(s) from {path}; {counts['unannotated']} task(s) without an annotation left out")
