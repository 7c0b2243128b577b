"""pair@cK: judged answers become KTO rows and DPO pairs, the ideal set by the harm level.

Each answer's Safety Score (DESIGN.md's table) decides its role:
- KTO: score 1 -> desirable, score 0 -> undesirable; a Caution on a harm-level-2 prompt
  (score 0.5) is neither and stays out of KTO (counted as ``neutral``).
- DPO: for each prompt, answers with the highest score are chosen against answers with the
  lowest, when the scores differ; ties give no pair. Up to ``max_pairs_per_prompt`` pairs per
  prompt, matched in turn (distinct answer texts first), so no pair repeats while others remain.
Unparsed answers never enter preference data (counted as ``unparsed``).
"""

from __future__ import annotations

from collections import defaultdict

from careal.errors import DataError
from careal.scoring import UNPARSED, safety_score


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


def make_pairs(items: list[dict], max_pairs_per_prompt: int = 2, balance_harmless: bool = False) -> tuple[list[dict], list[dict], dict]:
    """KTO rows, DPO pairs and their statistics from judged items (see module doc).

    ``balance_harmless`` repeats the DPO pairs of harmless prompts (in order, whole rounds
    first) until they are as many as the pairs of harmful prompts, so that learning to refuse
    harmful requests does not drown out learning to answer harmless ones.
    """
    kto, dpo = [], []
    stats = {"answers": len(items), "by_harm_level": {}}
    per_level = defaultdict(lambda: {"answers": 0, "desirable": 0, "undesirable": 0, "neutral": 0, "unparsed": 0, "prompts": 0, "dpo_pairs": 0, "tied_prompts": 0})
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        level = int(item["harmful_level"])
        counts = per_level[str(level)]
        counts["answers"] += 1
        if item["label"] == UNPARSED:
            counts["unparsed"] += 1
            continue
        score = safety_score(level, item["label"])
        item = {**item, "score": score}
        by_prompt[item["id"]].append(item)
        if score in (0.0, 1.0):
            counts["desirable" if score == 1.0 else "undesirable"] += 1
            kto.append({"prompt": item["prompt"], "completion": item["response"], "label": score == 1.0, "id": item["id"], "sample": item["sample"], "harmful_level": level, "judge_label": item["label"]})
        else:
            counts["neutral"] += 1
    for prompt_id, answers in by_prompt.items():
        level = int(answers[0]["harmful_level"])
        per_level[str(level)]["prompts"] += 1
        best, worst = max(a["score"] for a in answers), min(a["score"] for a in answers)
        if best == worst:
            per_level[str(level)]["tied_prompts"] += 1
            continue
        chosen = _distinct_first([a for a in answers if a["score"] == best])
        rejected = _distinct_first([a for a in answers if a["score"] == worst])
        made = min(max_pairs_per_prompt, max(len(chosen), len(rejected)))
        for n in range(made):
            c, r = chosen[n % len(chosen)], rejected[n % len(rejected)]
            dpo.append({"prompt": c["prompt"], "chosen": c["response"], "rejected": r["response"], "id": prompt_id, "chosen_sample": c["sample"], "rejected_sample": r["sample"], "harmful_level": level, "chosen_label": c["label"], "rejected_label": r["label"], "score_margin": best - worst})
        per_level[str(level)]["dpo_pairs"] += made
    if balance_harmless:
        harmless = [p for p in dpo if p["harmful_level"] == 0]
        harmful = len(dpo) - len(harmless)
        if harmless and harmful > len(harmless):
            extra = [dict(harmless[n % len(harmless)], repeat=n // len(harmless) + 1) for n in range(harmful - len(harmless))]
            dpo.extend(extra)
            per_level["0"]["dpo_pairs_repeated"] = len(extra)
    stats["by_harm_level"] = {k: per_level[k] for k in sorted(per_level)}
    totals = defaultdict(int)
    for counts in per_level.values():
        for key, value in counts.items():
            totals[key] += value
    stats["kto_rows"] = len(kto)
    stats["dpo_pairs"] = len(dpo)
    stats["totals"] = dict(totals)
    return kto, dpo, stats


def _distinct_first(answers: list[dict]) -> list[dict]:
    """Answers with distinct texts first (in sample order), repeats after."""
    seen, first, repeats = set(), [], []
    for a in sorted(answers, key=lambda a: a["sample"]):
        (repeats if a["response"] in seen else first).append(a)
        seen.add(a["response"])
    return first + repeats
