"""A person in the loop: reviewing the judge's labels (docs/review.md).

- ``store.py`` the review files ``reviews/cK-eval.jsonl`` / ``reviews/cK-train.jsonl``: one
  verdict per answer, read strictly, written atomically as each verdict is given;
- ``sample.py`` a cycle's answers with their judge labels, and the seeded order, stratified by
  harm level and judge label, in which they are reviewed;
- ``corrected.py`` judge-error-corrected refusal rates from the reviewed eval answers, with a
  bootstrap over the eval prompts and the review sample;
- ``labelstudio.py`` Label Studio's import file (tasks + labelling config) and its JSON export;
- ``server.py`` the local review page (``careal review serve``): 127.0.0.1, a token in the URL,
  answers shown as text under a strict Content-Security-Policy.

No module here imports torch; only ``server.py`` imports a web library.
"""
