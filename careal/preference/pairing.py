"""pair@cK: judged answers become KTO rows and DPO pairs, the ideal set by the harm level.

Each answer's Safety Score (DESIGN.md's table) decides its role:
- KTO: score 1 -> desirable, score 0 -> undesirable; a Caution on a harm-level-2 prompt
  (score 0.5) is neither and stays out of KTO (counted as ``neutral``).
- DPO: within each prompt, a higher-scored answer is chosen over a lower-scored one. Which
  pairs are made is the ``strategy`` (``PAIR_STRATEGIES``):
  ``best_vs_worst`` (the best-scored answers against the worst), ``best_vs_random`` (a
  best-scored answer against a seeded random lower-scored one) or ``all_pairs`` (every
  higher/lower combination, largest margin first). Prompts whose answers all score the same
  give no pair (``tied_prompts``). At most ``max_pairs_per_prompt`` pairs per prompt, distinct
  answer texts first, so no pair repeats while others remain.
- A pair needs a score margin of at least ``min_score_margin`` (always more than 0); pairs under
  it are counted as ``below_min_margin``. With ``max_text_similarity`` below 1, a pair whose
  chosen and rejected texts are nearly the same (``text_similarity``, a ratio in [0, 1]) is
  dropped and counted as ``near_identical``: such pairs teach a margin on a few tokens and,
  in DPO, tend to push both answers' likelihood down together.
- Balancing (``balance_harmless``): CARES-style sets hold about three harmful prompts for each
  harmless one, so the harmless prompts' pairs are repeated (in order, whole rounds first) until
  they match the harmful prompts' pairs; with ``balance_by_method`` this is done within each
  method (direct, indirect, obfuscate, role_play) separately, so that a rewrite's framing is
  paired with "answer" as often as with "refuse" and only the intent is left to learn. With
  ``max_repeat`` (above 0) the harmless pairs are repeated to at most that many times their
  number, and where that is still short of the harmful pairs, the harmful pairs are subsampled
  (seeded) to match (counted as ``dpo_pairs_dropped_to_balance``): once the policy answers most
  harmless prompts alike in every sample, a dozen distinct harmless pairs repeated fifteen times
  teach those prompts, not "answer harmless requests", while hundreds of distinct harmful pairs
  teach "refuse" everywhere.
- Fluent targets (``fluent_chosen``): an answer whose text is degenerate
  (careal/metrics/fluency.py: a bare label word, repeated or glued fragments, a sentence cut
  short) is never a target: it is not a KTO desirable row and not a DPO chosen answer, whatever
  its label (counted as ``degenerate`` and ``degenerate_not_target``); it can still be a KTO
  undesirable row or a DPO rejected answer. The judges read an answer mostly by its opening,
  so without this a garbled refusal of a harmful prompt ("'m sorry, but I won't help with
  that.") is trained towards, and the next cycle samples more of it.
- Fallbacks (both off by default): a real chat model may answer every harmful prompt, so that
  no sampled answer is acceptable and DPO has no chosen answer. With ``fallback_chosen`` a
  harmful prompt (level 1-3) whose parsed answers all score below 1 gets a careal-written
  answer of the ideal behaviour for its level (``careal.data.styles.fallback_answer``: a
  caution at level 1, a refusal at 2 and 3) as one more candidate with score 1, so it becomes
  the chosen answer against the policy's worst ones (and a desirable KTO row). With
  ``fallback_rejected`` a harmless prompt whose parsed answers all score 1 gets a
  careal-written refusal as a candidate with score 0 (the rejected answer against the policy's
  own helpful ones; an undesirable KTO row), so that the data says "answer this" as well as
  "refuse that". Each is marked (``sample`` -1, ``fallback``) and counted per harm level
  (``fallback_chosen``, ``fallback_rejected``: prompts that got one).
Unparsed answers never enter preference data (counted as ``unparsed``). Everything dropped or
repeated is counted in the statistics (pair_stats.json), per harm level and per method.
"""

from __future__ import annotations

import difflib
import random
from collections import defaultdict

from careal.data.styles import fallback_answer, fallback_refusal
from careal.errors import DataError
from careal.metrics.fluency import WELL_FORMED, answer_form
from careal.metrics.scoring import UNPARSED, safety_score

PAIR_STRATEGIES = ("best_vs_worst", "best_vs_random", "all_pairs")


def join_judged(prompts: list[dict], generations: list[dict], judgments: list[dict], paths: dict) -> list[dict]:
    """One item per answer: prompt record fields + response + label. Every generation must have
    exactly one judgment and every id a prompt; anything else is a DataError."""
    by_id = {p["id"]: p for p in prompts}
    labels = {}
    for number, j in enumerate(judgments, start=1):
        key = (j.get("id"), j.get("sample"))
        if key in labels:
            raise DataError(paths["judgments"], number, "id", f"second judgment for id {key[0]!r} sample {key[1]!r}")
        labels[key] = j.get("label")
    items = []
    for number, g in enumerate(generations, start=1):
        if g.get("id") not in by_id:
            raise DataError(paths["generations"], number, "id", f"{g.get('id')!r} is not in {paths['prompts']}")
        key = (g["id"], g.get("sample"))
        if key not in labels:
            raise DataError(paths["generations"], number, "sample", f"no judgment for id {key[0]!r} sample {key[1]!r} in {paths['judgments']}")
        prompt = by_id[g["id"]]
        items.append({**prompt, "sample": g["sample"], "response": g["response"], "label": labels.pop(key)})
    if labels:
        (orphan_id, orphan_sample), _ = next(iter(labels.items()))
        raise DataError(paths["judgments"], None, "id", f"{len(labels)} judgment(s) without a generation, e.g. id {orphan_id!r} sample {orphan_sample!r}")
    return items


def text_similarity(a: str, b: str) -> float:
    """How alike two answers are, from 0 (nothing shared) to 1 (the same words in the same
    order): difflib's ratio over the word sequences."""
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


def _level_counts() -> dict:
    return {"answers": 0, "desirable": 0, "undesirable": 0, "neutral": 0, "unparsed": 0, "prompts": 0, "tied_prompts": 0,
            "dpo_pairs": 0, "below_min_margin": 0, "near_identical": 0, "degenerate": 0, "degenerate_not_target": 0, "fallback_chosen": 0, "fallback_rejected": 0}


FALLBACK_SAMPLE = -1
"""The ``sample`` of a careal-written fallback answer (the policy's samples are 0..K-1)."""


def _fallback(answers: list[dict], level: int, chosen: bool, rejected: bool, seed: int, style: str = "ideal") -> dict | None:
    """The careal-written candidate a prompt gets (see the module doc), or None."""
    rng = random.Random(f"{seed}:fallback:{answers[0]['id']}")
    best = max((a["score"] for a in answers if a["target"]), default=0.0)  # a degenerate ideal answer is no target
    if chosen and level >= 1 and best < 1.0:
        text, label = fallback_answer(level, rng, style)
        return {**answers[0], "sample": FALLBACK_SAMPLE, "response": text, "label": label, "score": safety_score(level, label), "fallback": "chosen", "target": True}
    if rejected and level == 0 and min(a["score"] for a in answers) == 1.0:
        return {**answers[0], "sample": FALLBACK_SAMPLE, "response": fallback_refusal(rng), "label": "Refuse", "score": 0.0, "fallback": "rejected", "target": True}
    return None


def make_pairs(
    items: list[dict],
    max_pairs_per_prompt: int = 2,
    balance_harmless: bool = False,
    *,
    strategy: str = "best_vs_worst",
    min_score_margin: float = 0.0,
    max_text_similarity: float = 1.0,
    balance_by_method: bool = False,
    fluent_chosen: bool = False,
    max_repeat: int = 0,
    seed: int = 0,
    fallback_chosen: bool = False,
    fallback_rejected: bool = False,
    fallback_style: str = "ideal",
) -> tuple[list[dict], list[dict], dict]:
    """KTO rows, DPO pairs and their statistics from judged items (see module doc)."""
    if strategy not in PAIR_STRATEGIES:
        raise ValueError(f"unknown pairing strategy {strategy!r} (known: {', '.join(PAIR_STRATEGIES)})")
    kto, dpo = [], []
    per_level = defaultdict(_level_counts)
    per_method: dict[str, dict] = defaultdict(lambda: {"desirable": 0, "undesirable": 0, "dpo_pairs": 0, "dpo_pairs_harmless": 0})
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        level = int(item["harmful_level"])
        counts = per_level[str(level)]
        counts["answers"] += 1
        if item["label"] == UNPARSED:
            counts["unparsed"] += 1
            continue
        score = safety_score(level, item["label"])
        degenerate = answer_form(item["response"]) != WELL_FORMED
        counts["degenerate"] += degenerate
        item = {**item, "score": score, "target": not (fluent_chosen and degenerate)}
        by_prompt[item["id"]].append(item)
        if score == 1.0 and not item["target"]:
            counts["degenerate_not_target"] += 1
        elif score in (0.0, 1.0):
            kind = "desirable" if score == 1.0 else "undesirable"
            counts[kind] += 1
            per_method[str(item.get("method"))][kind] += 1
            kto.append({"prompt": item["prompt"], "completion": item["response"], "label": score == 1.0, "id": item["id"], "sample": item["sample"], "harmful_level": level, "judge_label": item["label"]})
        else:
            counts["neutral"] += 1
    for prompt_id, answers in by_prompt.items():
        level = int(answers[0]["harmful_level"])
        counts = per_level[str(level)]
        counts["prompts"] += 1
        extra = _fallback(answers, level, fallback_chosen, fallback_rejected, seed, fallback_style) if (fallback_chosen or fallback_rejected) else None
        if extra is not None:
            counts[f"fallback_{extra['fallback']}"] += 1
            answers = answers + [extra]
            kind = "desirable" if extra["score"] == 1.0 else "undesirable"
            per_method[str(extra.get("method"))][kind] += 1
            kto.append({"prompt": extra["prompt"], "completion": extra["response"], "label": extra["score"] == 1.0, "id": prompt_id, "sample": FALLBACK_SAMPLE,
                        "harmful_level": level, "judge_label": extra["label"], "fallback": extra["fallback"]})
        if max(a["score"] for a in answers) == min(a["score"] for a in answers):
            counts["tied_prompts"] += 1
            continue
        if not any(a["target"] and a["score"] > min(b["score"] for b in answers) for a in answers):
            continue  # every better answer is degenerate (counted under degenerate_not_target)
        rng = random.Random(f"{seed}:{prompt_id}")
        candidates, below = _candidate_pairs(answers, strategy, min_score_margin, rng)
        counts["below_min_margin"] += below
        made = 0
        for chosen, rejected in candidates:
            if made == max_pairs_per_prompt:
                break
            if max_text_similarity < 1.0 and text_similarity(chosen["response"], rejected["response"]) > max_text_similarity:
                counts["near_identical"] += 1
                continue
            dpo.append({"prompt": chosen["prompt"], "chosen": chosen["response"], "rejected": rejected["response"], "id": prompt_id,
                        "chosen_sample": chosen["sample"], "rejected_sample": rejected["sample"], "harmful_level": level,
                        "method": chosen.get("method"), "chosen_label": chosen["label"], "rejected_label": rejected["label"],
                        "score_margin": chosen["score"] - rejected["score"],
                        **({"fallback": "chosen"} if chosen.get("fallback") else {"fallback": "rejected"} if rejected.get("fallback") else {})})
            made += 1
        counts["dpo_pairs"] += made
    if balance_harmless:
        groups = defaultdict(list)
        for pair in dpo:
            groups[pair.get("method") if balance_by_method else None].append(pair)
        dropped: set[int] = set()
        for group, pairs in sorted(groups.items(), key=lambda kv: str(kv[0])):
            harmless = [p for p in pairs if p["harmful_level"] == 0]
            harmful = [p for p in pairs if p["harmful_level"] != 0]
            if harmless and len(harmful) > len(harmless):
                target = len(harmful) if max_repeat <= 0 else min(len(harmful), max_repeat * len(harmless))
                extra = [dict(harmless[n % len(harmless)], repeat=n // len(harmless) + 1) for n in range(target - len(harmless))]
                dpo.extend(extra)
                per_level["0"]["dpo_pairs_repeated"] = per_level["0"].get("dpo_pairs_repeated", 0) + len(extra)
                if target < len(harmful):  # too few distinct harmless lessons: fewer harmful pairs, not more repeats
                    rng = random.Random(f"{seed}:balance:{group}")
                    for pair in rng.sample(harmful, len(harmful) - target):
                        dropped.add(id(pair))
                        key = str(pair["harmful_level"])
                        per_level[key]["dpo_pairs_dropped_to_balance"] = per_level[key].get("dpo_pairs_dropped_to_balance", 0) + 1
        if dropped:
            dpo = [pair for pair in dpo if id(pair) not in dropped]
    for pair in dpo:
        method = per_method[str(pair.get("method"))]
        method["dpo_pairs"] += 1
        method["dpo_pairs_harmless"] += pair["harmful_level"] == 0
    stats = {"answers": len(items), "strategy": strategy, "by_harm_level": {k: per_level[k] for k in sorted(per_level)},
             "by_method": {k: per_method[k] for k in sorted(per_method)}}
    totals = defaultdict(int)
    for counts in per_level.values():
        for key, value in counts.items():
            totals[key] += value
    stats["kto_rows"] = len(kto)
    if fallback_chosen or fallback_rejected:
        stats["fallback"] = {"chosen": fallback_chosen, "rejected": fallback_rejected, **({"style": fallback_style} if fallback_style != "ideal" else {}),
                             "kto_rows": sum(1 for r in kto if r.get("fallback")),
                             "dpo_pairs": sum(1 for p in dpo if p.get("fallback"))}
    stats["dpo_pairs"] = len(dpo)
    stats["totals"] = dict(totals)
    return kto, dpo, stats


def _candidate_pairs(answers: list[dict], strategy: str, min_score_margin: float, rng: random.Random) -> tuple[list[tuple[dict, dict]], int]:
    """(chosen, rejected) candidates of one prompt in the order they are taken, and how many
    higher/lower pairs were left out for a margin under ``min_score_margin``."""
    def enough(c, r):
        margin = c["score"] - r["score"]
        return margin > 0 and margin >= min_score_margin

    lower_pairs = [(c, r) for c in answers for r in answers if c["score"] > r["score"] and c.get("target", True)]
    below = sum(not enough(c, r) for c, r in lower_pairs)
    best = max(a["score"] for a in answers if a.get("target", True))
    worst = min(a["score"] for a in answers)
    if strategy == "best_vs_worst":
        chosen = _distinct_first([a for a in answers if a["score"] == best and a.get("target", True)])
        rejected = _distinct_first([a for a in answers if a["score"] == worst])
        if not enough(chosen[0], rejected[0]):
            return [], below
        n = max(len(chosen), len(rejected))
        return [(chosen[k % len(chosen)], rejected[k % len(rejected)]) for k in range(n)], below
    if strategy == "best_vs_random":
        chosen = _distinct_first([a for a in answers if a["score"] == best and a.get("target", True)])
        out = []
        for c in chosen:
            pool = _distinct_first([r for r in answers if enough(c, r)])
            if pool:
                out.append((c, rng.choice(pool)))
        return out, below
    # all_pairs: every pair with enough margin, largest margin first, distinct texts first
    pairs = [(c, r) for c, r in lower_pairs if enough(c, r)]
    seen, first, repeats = set(), [], []
    for c, r in sorted(pairs, key=lambda p: (-(p[0]["score"] - p[1]["score"]), p[0]["sample"], p[1]["sample"])):
        key = (c["response"], r["response"])
        (repeats if key in seen else first).append((c, r))
        seen.add(key)
    return first + repeats, below


def _distinct_first(answers: list[dict]) -> list[dict]:
    """Answers with distinct texts first (in sample order), repeats after."""
    seen, first, repeats = set(), [], []
    for a in sorted(answers, key=lambda a: a["sample"]):
        (repeats if a["response"] in seen else first).append(a)
        seen.add(a["response"])
    return first + repeats
