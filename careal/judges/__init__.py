"""Judges: label each (prompt, answer) pair Accept / Caution / Refuse, or Unparsed.

Every judge kind lives in its own module and offers the same interface (``base.Judge``):
``kind``, ``identity`` (kind, model, revision, rubric hash) and ``label_batch(pairs)``, which
returns one (label, evidence) per (prompt, response) pair. Kinds:

- ``rules`` (rules.py): a transparent lexical classifier;
- ``hf`` (hf.py): any Hugging Face causal LM, by label scoring (scoring.py);
- ``self`` (self.py): the policy that wrote the answers, by the same scoring;
- ``openai`` (openai_judge.py): any OpenAI-compatible chat endpoint (vLLM, an API, ...);
- ``classifier`` (classifier.py): the finetuned judge that the judge_train stage trains
  (training.py): a LoRA sequence classifier on the base causal LM.

Beside the kinds: ``spec.py`` (``JudgeSpec``, a judge's options as params.yaml and ``careal
label`` give them), ``scoring.py`` (label scoring), ``templates.py`` (the rubrics),
``cache.py`` (the judge cache), ``selftrain.py`` (the judge task of the tiny model's warm
start) and ``labelling.py`` (``careal label``).

``make_judge`` builds the judge that a params.yaml judge spec asks for; ``judge_records`` runs
it over generation records, through the judge cache (cache.py), and normalises what it says
(``scoring.normalize_label``: "Reject" is Refuse, anything that is not a careal label is
Unparsed), so that no other label ever reaches pairing or metrics.
"""

from __future__ import annotations

from careal.errors import CarealError
from careal.judges.base import Judge
from careal.judges.rules import RulesJudge
from careal.metrics.scoring import normalize_label

__all__ = ["Judge", "RulesJudge", "make_judge", "judge_records", "judge_pairs"]

KINDS = ("rules", "hf", "self", "openai", "classifier")


def make_judge(spec, *, base_dir=None, policy_dir=None, policy_name: str | None = None) -> Judge:
    """The judge a JudgeSpec (params.yaml ``judge.train`` / ``judge.eval``) asks for.

    The ``self`` judge also needs the policy that wrote the answers: ``base_dir``
    (models/base) and ``policy_dir`` (models/cP).
    """
    if spec.kind not in KINDS:
        raise CarealError(f"params.yaml: judge kind {spec.kind!r} is not available (available: {', '.join(KINDS)})")
    spec.check("judge")
    if spec.kind == "rules":
        return RulesJudge()
    if spec.kind == "hf":
        from careal.judges.hf import HFJudge

        return HFJudge(spec)
    if spec.kind == "self":
        from careal.judges.self import SelfJudge

        if base_dir is None or policy_dir is None:
            raise CarealError("judge kind 'self' needs the policy that wrote the answers (its base model folder and its policy folder)")
        return SelfJudge(spec, base_dir, policy_dir, policy_name)
    if spec.kind == "openai":
        from careal.judges.openai_judge import make_openai_judge

        return make_openai_judge(spec)
    if spec.kind == "classifier":
        from careal.judges.classifier import ClassifierJudge

        return ClassifierJudge(spec)
    raise CarealError(f"params.yaml: judge kind {spec.kind!r} is not available (available: {', '.join(KINDS)})")


def judge_pairs(judge: Judge, pairs: list[tuple[str, str]], *, use_cache: bool = True, stats: dict | None = None, desc: str | None = None) -> list[tuple[str, dict]]:
    """One normalised (label, evidence) per (prompt, response) pair, through the judge cache.

    Model judges (``cacheable``) go through the judge cache unless ``use_cache`` is false and
    read each distinct (prompt, response) once; rules verdicts are computed every time.
    ``stats`` (when given) receives ``judged`` (distinct answers the judge read now) and
    ``cache_hits`` (answers whose verdict came from the cache).
    """
    from tqdm.auto import tqdm

    from careal.judges.cache import open_cache, verdict_key

    identity = judge.identity
    # Model judges are cached and read each distinct answer once; a rules verdict costs less
    # than a cache lookup, so rules judges read every answer.
    model_judge = getattr(judge, "cacheable", False)
    cache = open_cache(use_cache) if model_judge else None
    verdicts: list = [None] * len(pairs)
    keys = [verdict_key(identity, p, r) for p, r in pairs] if model_judge else [str(i) for i in range(len(pairs))]
    hits = 0
    try:
        if cache is not None:
            found = cache.get_many(keys)
            for i, key in enumerate(keys):
                if key in found:
                    verdicts[i] = found[key]
                    hits += 1
        first_of: dict[str, int] = {}
        for i, v in enumerate(verdicts):
            if v is None:
                first_of.setdefault(keys[i], i)
        todo = list(first_of.values())
        reports = getattr(judge, "reports_progress", False)
        show = len(todo) >= 2000 or (reports and len(todo) > 0)
        with tqdm(total=len(todo), desc=desc or f"judging ({judge.kind})", unit="answer", disable=not show) as bar:
            chunk = 256
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                batch = [pairs[i] for i in part]
                if reports:
                    extra = {}
                    if cache is not None and getattr(judge, "saves_each", False):
                        # each verdict cached as it arrives: a crash or a failed request loses none
                        extra["save"] = lambda j, verdict, part=part: cache.put_many([(keys[part[j]], verdict)])
                    out = judge.label_batch(batch, progress=bar.update, **extra)
                else:
                    out = judge.label_batch(batch)
                    bar.update(len(part))
                for i, verdict in zip(part, out):
                    verdicts[i] = (verdict[0], verdict[1])
                if cache is not None:
                    # a request that failed (openai, on_error: unparsed) is no verdict: never cached
                    cache.put_many([(keys[i], verdicts[i]) for i in part if "request_failed" not in verdicts[i][1]])
        for i, v in enumerate(verdicts):
            if v is None:
                verdicts[i] = verdicts[first_of[keys[i]]]
    finally:
        if cache is not None:
            cache.close()
    if stats is not None:
        stats.update(judged=len(todo), cache_hits=hits)
    result = []
    for label, raw in verdicts:
        normalised = normalize_label(label)
        if normalised != label:
            raw = {**raw, "judge_said": label}
        result.append((normalised, raw))
    return result


def judge_records(judge: Judge, generations: list[dict], *, use_cache: bool = True, stats: dict | None = None) -> list[dict]:
    """One judgment record per generation record (same id and sample), labels normalised."""
    identity = judge.identity
    verdicts = judge_pairs(judge, [(g["prompt"], g["response"]) for g in generations], use_cache=use_cache, stats=stats)
    return [{"id": g["id"], "sample": g["sample"], "label": label, "judge": identity, "raw": raw} for g, (label, raw) in zip(generations, verdicts)]
