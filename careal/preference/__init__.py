"""Preference alignment: labels to KTO rows and DPO pairs (``pairing``), the checks before a
step (``preflight``), trl's KTOTrainer / DPOTrainer on a LoRA adapter (``training``) and the
training curves (``curves``).

It imports the ground, ``careal.data``, ``careal.metrics`` and ``careal.policy``; never a judge.
"""
