"""The prompts: the CARES record and its validation (``schema``), reading sources (``sources``),
the leak-free train/eval split (``split``), the embedded synthetic set (``synthetic`` and its
content ``synthetic_prompts.yaml``), each cycle's prompt draw (``cycle_prompts``) and the answers
careal writes itself in three known styles (``styles``).

Data needs no model: nothing here imports torch, a model, a judge or a stage.
"""
