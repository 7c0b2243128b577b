"""The ``careal`` command: one subcommand per pipeline stage, plus the commands around it.

Each stage reads params.yaml (``--params``) and works in the current folder, the project
root: the paths follow DESIGN.md's contracts (see docs/architecture.md). ``stages/*.py``,
which dvc.yaml runs, are thin wrappers around these commands. The commands live in one module
per group (``stages``, ``reports``, ``project``, ``tools``, ``review``; ``common`` holds what they share) and
import heavy libraries inside their bodies, so ``careal --help`` answers at once.
"""

from __future__ import annotations

import click

from careal.cli import project, reports, review, stages, tools
from careal.cli import select as selection
from careal.cli.common import CarealGroup


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
      validation -p cK   data/validation/cK/  (greedy answers on the validation split, judge.select)
      select             metrics/selected.json, models/selected (the policy to ship; --experiments)
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
      review serve -c cK the judge's labels checked by a person in a local page (export / import: Label Studio)
    """


for _command in (
    stages.prepare, stages.bootstrap, stages.generate, stages.judge_train, stages.judge, stages.judge_reliability,
    stages.pair, stages.train, stages.evaluate, stages.summarise,
    reports.report, reports.status, reports.sweep,
    project.cycles, project.preset, project.export, project.doctor,
    tools.label, tools.validate,
    review.review,
    selection.validation, selection.select,
):
    main.add_command(_command)
