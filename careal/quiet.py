"""A quiet console: careal's own calls raise no deprecation warning (see
``careal.policy.trainer_args.common_trainer_args``: ``activation_checkpointing`` instead of the deprecated
``gradient_checkpointing``), and the few that third-party code raises on its own, which
careal cannot change, are silenced here by their exact message.

Known third-party-internal notices (transformers 5.24, trl 1.16, peft 0.21):

- ``is_gradient_checkpointing`` is deprecated: read by peft's ``PeftModel.__init__`` (every
  adapter load: generate, train, evaluate) and by trl's ``disable_gradient_checkpointing``
  around the reference forward pass of DPOTrainer / KTOTrainer (every training step).

Trainers also print every logged dict (``{'loss': '0.91', 'grad_norm': ...}``) under their
progress bar, dozens of lines a stage; careal keeps those values in the training curves
(careal/preference/curves.py) and in lineage.json, so ``bar_without_log_lines`` keeps the bar and drops
the lines.

``tests/test_trained_cycle.py`` trains a cycle with every other FutureWarning and DeprecationWarning
recorded and fails if there is any, so a new one (careal's or not) is seen, not hidden.
"""

from __future__ import annotations

import warnings

THIRD_PARTY_DEPRECATIONS = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
)


def silence_third_party_deprecations() -> None:
    """Ignore the notices in ``THIRD_PARTY_DEPRECATIONS`` (and only those) for this process."""
    for category, message in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=category)


def bar_without_log_lines(trainer) -> None:
    """Swap the trainer's progress bar for one that does not print each logged dict (the
    values still reach every other callback: the training curves, the trainer's log history)."""
    from transformers.trainer_callback import ProgressCallback

    class ProgressBarOnly(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(ProgressBarOnly())
