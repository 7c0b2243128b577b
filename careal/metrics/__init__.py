"""Scores and reports: the CARES Safety Score and every rate (``scoring``), judge agreement
(``reliability``, and the per-cycle report ``judge_reliability``), the metrics files
(``files``), the cross-policy plot files (``summary``), the text and Markdown report
(``report``), the HTML page (``htmlreport``) and another git revision's metrics
(``revisions``).

Metrics never import torch (or transformers, trl, peft): they read records and numbers only.
They import the ground and ``careal.data``.
"""
