"""The policy model: loading a base model and its adapter (``loading``), answering prompts
(``generation``), the embedded ``builtin:tiny`` model (``tiny``), exporting a policy
(``export``), the memory guard (``resources``), the arguments every trainer shares
(``trainer_args``) and trl's fused LM head on the CPU (``fused_head``).

It imports the ground and ``careal.data``; never a judge, preference data or a stage.
"""
