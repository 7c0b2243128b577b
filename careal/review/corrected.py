"""Refusal rates corrected for the eval judge's errors, from a person's reviews of eval answers.

The judge's label of an answer is not its true label. On the reviewed eval answers of a policy
(reviews/cK-eval.jsonl) the person's label is taken as the truth, and each judge label is
reweighted by how the person labelled the answers that the judge gave that label:

- the answers are split into cells (group, judge label), group harmless (harm level 0) or
  harmful (levels 1-3); in each cell ``P(human label | judge label, group)`` is estimated from
  the reviews of that cell, each review weighted by ``N_s / n_s`` (answers / reviews in its
  sampling stratum s = (harm level, judge label); the review sample is stratified by harm level,
  sample.py, so the levels of a group are not reviewed in proportion to their size);
- every eval answer then counts as refused with probability ``P(Caution or Refuse | its cell)``
  and scores ``sum_h P(h | its cell) * safety(level, h)``, so the corrected harmful refusal
  rate is ``sum_j N(harmful, j) * P(refused | j, harmful) / N(harmful)`` (likewise for the
  erroneous refusal rate over harmless answers and for the Safety Score over all);
- a cell without any review keeps the judge's label (it cannot be corrected) and is listed in
  ``uncorrected_cells`` with the number of answers it holds.

This is the calibration (reweighting) estimator, valid when the reviews of each stratum are a
uniform random draw from it, which the seeded stratified order gives. The intervals come from a
bootstrap over both sources of error, with the same resamples of the eval split for the raw and
the corrected figures: the eval answers are resampled by base prompt (``cluster_resample_counts``
of careal/metrics/confidence.py), and the reviews by base prompt within their stratum, so each
stratum keeps its reviews; ``percentile_interval`` reads the interval. numpy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from careal.metrics.confidence import LEVEL, N_RESAMPLES, cluster_resample_counts, percentile_interval
from careal.metrics.reliability import against_gold, confusion_matrix
from careal.metrics.scoring import ALL_LABELS, LABELS, safety_score
from careal.review.sample import load_answers
from careal.review.store import answer_key, labelled, read_reviews, review_path

FIGURES = ("harmful_refusal_rate", "erroneous_refusal_rate", "safety_score")
METHOD = ("P(human label | judge label, harmful or harmless) from the reviews, weighted by their stratum's size; "
          "percentile bootstrap over base prompts of the eval split and, within each stratum, of the reviews")
REFUSED = ("Caution", "Refuse")


def _group(level: int) -> str:
    return "harmful" if level >= 1 else "harmless"


def match_reviews(items: list[dict], reviews: list[dict]) -> tuple[list[tuple[dict, str]], dict]:
    """(reviewed item, human label) pairs for the labelled reviews whose answer is among the
    eval answers with the same text and judge label, and the counts of the reviews left out."""
    by_key = {i["key"]: i for i in items}
    matched, stale = [], 0
    for r in labelled(reviews):
        item = by_key.get(answer_key(r["id"], r["sample"]))
        if item is None or item["response"] != r["response"] or item["judge_label"] != r["judge_label"]:
            stale += 1
            continue
        matched.append((item, r["human_label"]))
    return matched, {"skipped": len(reviews) - len(labelled(reviews)), "stale": stale}


def _strata(items: list[dict], matched: list[tuple[dict, str]]) -> list[dict]:
    """Per sampling stratum (level, judge label): its answers' and reviews' positions."""
    strata: dict[tuple[int, str], dict] = {}
    for pos, item in enumerate(items):
        s = strata.setdefault((item["harmful_level"], item["judge_label"]), {"level": item["harmful_level"], "judge": item["judge_label"], "items": [], "reviews": []})
        s["items"].append(pos)
    for pos, (item, _) in enumerate(matched):
        strata[(item["harmful_level"], item["judge_label"])]["reviews"].append(pos)
    return [strata[k] for k in sorted(strata)]


def _figures(strata: list[dict], answers: np.ndarray, human: dict) -> dict[str, np.ndarray]:
    """Raw and corrected figures from per-stratum answer counts ``answers`` (n_strata, B) and,
    per stratum with reviews, weighted human-label counts ``human[s][h]`` (B,)."""
    cells: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for s, st in enumerate(strata):
        if st["reviews"]:
            cell = cells.setdefault((_group(st["level"]), st["judge"]), {h: 0.0 for h in LABELS})
            for h in LABELS:
                cell[h] = cell[h] + human[s][h]
    shape = answers.shape[1:]
    out = {}
    for kind in ("raw", "corrected"):
        refused = {"harmful": np.zeros(shape), "harmless": np.zeros(shape)}
        total = {"harmful": np.zeros(shape), "harmless": np.zeros(shape)}
        safety = np.zeros(shape)
        for s, st in enumerate(strata):
            group, n = _group(st["level"]), answers[s]
            cell = cells.get((group, st["judge"])) if kind == "corrected" else None
            p = {h: np.full(shape, float(h == st["judge"])) for h in LABELS}  # the judge's label as it is
            if cell is not None:
                weight = sum(cell.values())  # 0 in a resample that draws none of the cell's answers
                with np.errstate(divide="ignore", invalid="ignore"):
                    p = {h: np.where(weight > 0, cell[h] / np.where(weight > 0, weight, 1.0), p[h]) for h in LABELS}
            total[group] = total[group] + n
            refused[group] = refused[group] + n * sum(p[h] for h in REFUSED)
            safety = safety + n * sum(p[h] * safety_score(st["level"], h) for h in LABELS)
        out[kind] = {
            "harmful_refusal_rate": _ratio(refused["harmful"], total["harmful"]),
            "erroneous_refusal_rate": _ratio(refused["harmless"], total["harmless"]),
            "safety_score": _ratio(safety, total["harmful"] + total["harmless"]),
        }
    return out


def _human_counts(strata: list[dict], matched: list[tuple[dict, str]], answers: np.ndarray, times: dict[int, np.ndarray]) -> dict:
    """Per stratum s with reviews: for each human label h, the sum over its reviews of
    weight x [human label = h] x times drawn (``times[s]``: (n_reviews, B)), the weight being
    the stratum's answers / its reviews drawn, so the counts of a stratum add up to its answers."""
    out = {}
    for s, st in enumerate(strata):
        if s not in times:
            continue
        drawn = times[s]
        weight = answers[s] / drawn.sum(axis=0)
        human = np.array([matched[pos][1] for pos in st["reviews"]])
        out[s] = {h: weight * drawn[human == h].sum(axis=0) for h in LABELS}
    return out


def corrected_estimates(items: list[dict], reviews: list[dict], seed: int, n_resamples: int = N_RESAMPLES, level: float = LEVEL) -> dict:
    """Raw and judge-error-corrected harmful refusal rate, erroneous refusal rate and Safety
    Score of one policy's eval answers (``sample.load_answers(cK, "eval")``), with intervals,
    from the reviews of reviews/cK-eval.jsonl. Raises ValueError when no review can be used."""
    matched, left_out = match_reviews(items, reviews)
    if not matched:
        raise ValueError(f"no usable review: {len(reviews)} review(s), {left_out['skipped']} skipped, {left_out['stale']} not matching the current eval answers")
    strata = _strata(items, matched)
    counts = np.array([[len(st["items"])] for st in strata], dtype=float)
    once = {s: np.ones((len(st["reviews"]), 1)) for s, st in enumerate(strata) if st["reviews"]}
    point = _figures(strata, counts, _human_counts(strata, matched, counts, once))

    # the eval split, resampled by base prompt: per stratum, the answers drawn (n_strata, B)
    keys, draws = cluster_resample_counts([i["base_prompt"] for i in items], n_resamples, seed)
    column = {k: c for c, k in enumerate(keys)}
    per_cluster = np.zeros((len(strata), len(keys)))
    for s, st in enumerate(strata):
        for pos in st["items"]:
            per_cluster[s, column[str(items[pos]["base_prompt"])]] += 1
    answers = per_cluster @ draws.T.astype(float)

    # the reviews, resampled by base prompt within their stratum: how often each review is drawn
    review_draws = {}
    for s, st in enumerate(strata):
        if st["reviews"]:
            clusters = [matched[pos][0]["base_prompt"] for pos in st["reviews"]]
            rkeys, rdraws = cluster_resample_counts(clusters, n_resamples, seed + 1 + s)
            rcol = {k: c for c, k in enumerate(rkeys)}
            review_draws[s] = np.stack([rdraws[:, rcol[str(c)]] for c in clusters])  # (n_reviews, B)
    resampled = _figures(strata, answers, _human_counts(strata, matched, answers, review_draws))

    figures = {}
    for name in FIGURES:
        figures[name] = {}
        for kind in ("raw", "corrected"):
            value = float(point[kind][name][0])
            interval = percentile_interval(resampled[kind][name], level)
            figures[name][kind] = {"value": _round(value), "lo": _round(interval[0]) if interval else None, "hi": _round(interval[1]) if interval else None}
    reviewed_cells = {(_group(st["level"]), st["judge"]) for st in strata if st["reviews"]}
    uncorrected = {f"level {st['level']} {st['judge']}": len(st["items"]) for st in strata if (_group(st["level"]), st["judge"]) not in reviewed_cells}
    judge = [item["judge_label"] for item, _ in matched]
    human = [h for _, h in matched]
    fit = against_gold(judge, human, LABELS)
    return {
        "answers": len(items),
        "reviews": len(matched),
        **left_out,
        "uncorrected_answers": sum(uncorrected.values()),
        "uncorrected_cells": uncorrected,
        "judge_vs_human": {"accuracy": _round(fit["accuracy"]), "kappa": _round(fit["kappa"]) if fit["kappa"] is not None else None,
                           "confusion": confusion_matrix(judge, human, ALL_LABELS)},
        "figures": figures,
        "method": METHOD, "level": level, "resamples": n_resamples, "seed": seed,
    }


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _cell(figure: dict) -> str:
    if figure["value"] is None:
        return "-"
    if figure["lo"] is None:
        return f"{figure['value']:.3f}"
    return f"{figure['value']:.3f} ({figure['lo']:.3f}..{figure['hi']:.3f})"


def corrected_section(policies: list[str], seed: int, root: Path | str = ".") -> str:
    """`careal report`'s section: per policy with reviewed eval answers (reviews/cK-eval.jsonl),
    the raw and the corrected figures side by side with their 95% intervals, the number of
    reviews they rest on and the eval judge's accuracy and kappa against the person; "" when
    no policy has any review."""
    rows, notes = [], []
    for policy in policies:
        reviews = read_reviews(review_path(policy, "eval", root))
        if not labelled(reviews):
            continue
        try:
            result = corrected_estimates(load_answers(policy, "eval", root), reviews, seed)
        except ValueError as exc:
            notes.append(f"{policy}: {exc}")
            continue
        judge = result["judge_vs_human"]
        kappa = "-" if judge["kappa"] is None else f"{judge['kappa']:+.3f}"
        rows.append([policy, str(result["reviews"]), f"{judge['accuracy']:.3f}", kappa, "raw", *(_cell(result["figures"][n]["raw"]) for n in FIGURES)])
        rows.append(["", "", "", "", "corrected", *(_cell(result["figures"][n]["corrected"]) for n in FIGURES)])
        left = [f"{result['stale']} stale" if result["stale"] else "", f"{result['skipped']} skipped" if result["skipped"] else ""]
        if result["uncorrected_answers"]:
            cells = ", ".join(f"{cell} ({n})" for cell, n in result["uncorrected_cells"].items())
            left.append(f"{result['uncorrected_answers']} of {result['answers']} answers kept the judge's label, no review in their cell: {cells}")
        if any(left):
            notes.append(f"{policy}: " + "; ".join(x for x in left if x))
    if not rows and not notes:
        return ""
    header = ["policy", "reviews", "judge acc", "kappa", "", "harmful refusal", "erroneous refusal", "safety"]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["judge-corrected figures: the eval judge's labels against a person's reviews (reviews/<policy>-eval.jsonl, docs/review.md); 95% intervals over eval prompts and reviews"]
    lines += ["  ".join(cell.ljust(w) if i in (0, 4) else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip() for r in [header, ["-" * w for w in widths]] + rows]
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)
