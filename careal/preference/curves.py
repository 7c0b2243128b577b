"""Training curves of train@cK: a transformers ``TrainerCallback`` that logs the trainer's
metrics with dvclive into ``metrics/train/cK/``, and the checks that turn a bad curve into a
warning.

Layout (dvclive's): ``metrics/train/cK/metrics.json`` (last value of each curve, and ``step``)
and ``metrics/train/cK/plots/metrics/<name>.tsv`` (``step`` and the value, one row per logged
step; ``rewards/margins`` is ``plots/metrics/rewards/margins.tsv``). No timestamps are written,
so the same training gives the same bytes on CPU. dvclive is told not to touch ``dvc.yaml``
(``dvcyaml=None``) nor to save an experiment (``save_dvc_exp=False``), and its DVC / Git / Studio
integration is switched off (``_files_only_live``): the train stage declares the folder as an
output itself, and the plots in dvc.yaml read it.

The curves are written into a temporary sibling folder and renamed into place when training
ends, so a crashed run leaves no folder that looks finished.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from transformers import TrainerCallback

TRAIN_METRICS = Path("metrics/train")

CURVES = (
    "loss",
    "learning_rate",
    "grad_norm",
    "rewards/margins",
    "rewards/accuracies",
    "rewards/chosen",
    "rewards/rejected",
    "logps/chosen",
    "logps/rejected",
    "kl",
)
"""The trainer log keys logged as curves, when the trainer reports them: DPO logs all but
``kl``; KTO logs ``kl`` and the rewards but no ``rewards/accuracies``."""

FLAT_MARGIN = 1e-9
"""A DPO/KTO reward margin within this of 0 at every logged step means the policy never moved
away from its reference."""


def curves_dir(cycle: str) -> Path:
    return TRAIN_METRICS / cycle


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def curve_warnings(log_history: list[dict]) -> list[str]:
    """Warnings about a training run from the trainer's ``state.log_history``: a loss that is
    not finite at some logged step, or a reward margin that stays at 0 across every logged step.
    The final summary entry (``train_loss``, no ``loss``) is not a step and is ignored."""
    steps = [entry for entry in log_history if "loss" in entry]
    found = []
    bad = [entry.get("step") for entry in steps if not _finite_number(entry["loss"])]
    if bad:
        shown = ", ".join(str(s) for s in bad[:5]) + (" ..." if len(bad) > 5 else "")
        found.append(f"the training loss is not finite at {len(bad)} of {len(steps)} logged steps (step {shown}): lower train.learning_rate or check the data")
    margins = [entry["rewards/margins"] for entry in steps if "rewards/margins" in entry]
    finite_margins = [m for m in margins if _finite_number(m)]
    if finite_margins and all(abs(m) <= FLAT_MARGIN for m in finite_margins):
        found.append(
            f"the reward margin (rewards/margins) stayed at 0 across all {len(finite_margins)} logged steps: the policy "
            "did not move away from its reference (raise train.learning_rate or train.epochs, or check that chosen and rejected differ)"
        )
    return found


def _files_only_live(**kwargs):
    """A dvclive ``Live`` that only writes its files.

    careal's train stage is already a DVC stage that declares ``metrics/train/cK`` as an output,
    so dvclive's own DVC / Git integration adds nothing and hurts: in dvclive 3.49 it raises
    in a Git repository with no commit yet (``scm.get_rev()``: "Empty git repo"), it runs
    ``dvc init`` in a Git repository that is not a DVC project, and it posts to DVC Studio when
    a token is configured. Its two set-up hooks are replaced so that none of that happens.
    """
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self):
            self._dvc_repo = None
            self._dvc_file = "dvc.yaml"  # never written: dvcyaml=None

        def _init_studio(self):
            self._dvc_studio_config = {}
            self._studio_events_to_skip.update({"start", "data", "done"})

    return FilesOnlyLive(**kwargs)


class TrainingCurves(TrainerCallback):
    """Logs ``CURVES`` at every trainer log step into ``metrics/train/<cycle>/`` with dvclive;
    after training, ``warnings`` holds what ``curve_warnings`` found (each also echoed to stderr)."""

    def __init__(self, cycle: str, root: str | Path = "."):
        self.out_dir = Path(root) / curves_dir(cycle)
        self.work_dir = self.out_dir.with_name(f".{self.out_dir.name}.tmp")
        self.live = None
        self.warnings: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.parent.mkdir(parents=True, exist_ok=True)
        self.live = _files_only_live(dir=str(self.work_dir), save_dvc_exp=False, dvcyaml=None, report=None, monitor_system=False)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.live is None or not logs or "loss" not in logs:
            return
        self.live.step = int(state.global_step)
        for name in CURVES:
            value = logs.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.live.log_metric(name, float(value))
        self.live.make_summary()

    def on_train_end(self, args, state, control, **kwargs):
        import click

        if self.live is None:
            return
        self.live.end()
        self.live = None
        shutil.rmtree(self.out_dir, ignore_errors=True)
        self.work_dir.rename(self.out_dir)
        self.warnings = curve_warnings(state.log_history)
        for message in self.warnings:
            click.echo(f"careal: warning: train@{self.out_dir.name}: {message}", err=True)
