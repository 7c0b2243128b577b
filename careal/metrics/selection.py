"""Which policy to ship: the selection rule, on validation figures (docs/selection.md).

Pure functions on numbers (no model, no torch): the ``select`` stage (careal/selection.py)
hands in each candidate's validation figures with their 95% intervals and a way to tell
whether one candidate's Safety Score beats another's beyond noise; ``careal select
--experiments`` hands in the same from several DVC experiments.

The rule, with ``c0`` (the base policy, the reference) and params ``select``:

1. **Eligible**: erroneous refusal rate at most c0's + ``max_erroneous_increase``, and fluency
   at least ``min_fluency_ratio`` x c0's (c0 itself always is).
2. **Walk** the eligible candidates in cycle order (c0, c1, c2, ...). The pick starts at the
   first one. A later candidate replaces the pick only when its Safety Score is higher and,
   with ``noise_guard``, the difference is beyond noise: within a run the paired bootstrap
   interval of the difference on the validation prompts excludes 0
   (``careal.metrics.confidence.paired_comparison``); across experiments, whose answers are not
   at hand, the difference exceeds both intervals' half-widths combined in quadrature
   (``combined_half_width``, conservative). A tie, or a gain within noise, keeps the earlier
   cycle.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

SAFETY, ERRONEOUS, FLUENCY = "safety_score", "erroneous_refusal_rate", "fluency"
FIGURES = ("safety_score", "harmful_refusal_rate", "erroneous_refusal_rate", "discrimination", "fluency")
RULE_TEXT = (
    "eligible: erroneous refusal <= reference's + max_erroneous_increase and fluency >= min_fluency_ratio x reference's; "
    "walking the eligible candidates in cycle order, a later one replaces the pick only if its Safety Score is higher "
    "(noise_guard: and the 95% interval of the difference excludes 0); ties keep the earlier cycle"
)


def _value(figures: Mapping, metric: str) -> float | None:
    cell = figures.get(metric)
    if isinstance(cell, Mapping):
        return cell.get("value")
    return cell


def conditions(figures: Mapping, reference: Mapping, max_erroneous_increase: float, min_fluency_ratio: float) -> dict:
    """Whether one candidate passes each condition against the reference (c0), with the bound
    it was held to. A figure that is missing (None) fails its condition."""
    ref_err, ref_flu = _value(reference, ERRONEOUS), _value(reference, FLUENCY)
    err, flu = _value(figures, ERRONEOUS), _value(figures, FLUENCY)
    err_bound = None if ref_err is None else round(ref_err + max_erroneous_increase, 6)
    flu_bound = None if ref_flu is None else round(ref_flu * min_fluency_ratio, 6)
    erroneous_ok = err is not None and err_bound is not None and err <= err_bound + 1e-12
    fluency_ok = flu is not None and flu_bound is not None and flu >= flu_bound - 1e-12
    return {
        "erroneous_refusal": {"value": err, "at_most": err_bound, "passed": bool(erroneous_ok)},
        "fluency": {"value": flu, "at_least": flu_bound, "passed": bool(fluency_ok)},
        "eligible": bool(erroneous_ok and fluency_ok),
    }


def select(
    candidates: Sequence[str],
    figures: Mapping[str, Mapping],
    reference: str | Mapping[str, str],
    *,
    max_erroneous_increase: float,
    min_fluency_ratio: float,
    noise_guard: bool = True,
    beats: Callable[[str, str], dict] | None = None,
) -> dict:
    """Apply the rule (module doc) to ``candidates`` in cycle order.

    ``figures[name]`` holds each figure as ``{value, lo, hi}`` (or a bare number);
    ``reference`` is the reference candidate's name (c0), or a mapping candidate -> its own
    reference (experiments: each experiment's c0). ``beats(challenger, pick)`` returns
    ``{"difference", "lo", "hi", "significant"}`` for the challenger's Safety Score minus the
    pick's (``significant``: beyond noise); without it, differences are unpaired
    (``unpaired_beats``). Returns ``{"selected", "candidates": {name: conditions + steps},
    "steps": [...]}``; ``selected`` is None when no candidate is eligible."""
    beats = beats or unpaired_beats(figures)
    refs = reference if isinstance(reference, Mapping) else {name: reference for name in candidates}
    out: dict = {"candidates": {}, "steps": []}
    pick = None
    for name in candidates:
        ref = refs[name]
        if ref not in figures:
            raise ValueError(f"selection: no figures for the reference {ref!r} of {name!r}")
        entry = {"figures": dict(figures[name]), "reference": ref, **conditions(figures[name], figures[ref], max_erroneous_increase, min_fluency_ratio)}
        out["candidates"][name] = entry
        if not entry["eligible"]:
            why = [k for k in ("erroneous_refusal", "fluency") if not entry[k]["passed"]]
            out["steps"].append(f"{name}: not eligible ({', '.join(why)})")
            continue
        if pick is None:
            pick = name
            out["steps"].append(f"{name}: first eligible, picked")
            continue
        score, current = _value(figures[name], SAFETY), _value(figures[pick], SAFETY)
        comparison = beats(name, pick)
        entry["against_pick"] = {"pick": pick, **comparison}
        higher = score is not None and current is not None and score > current + 1e-12
        if higher and (comparison.get("significant") or not noise_guard):
            out["steps"].append(f"{name}: Safety Score {score:.3f} > {current:.3f} of {pick}" + (" beyond noise" if noise_guard else "") + ", picked")
            pick = name
        elif higher:
            out["steps"].append(f"{name}: Safety Score {score:.3f} > {current:.3f} of {pick} but within noise, {pick} kept")
        else:
            out["steps"].append(f"{name}: Safety Score {_fmt(score)} not above {_fmt(current)} of {pick}, {pick} kept")
    out["selected"] = pick
    return out


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def unpaired_beats(figures: Mapping[str, Mapping]) -> Callable[[str, str], dict]:
    """Across runs whose answers are not at hand: the Safety Score difference is beyond noise
    when it exceeds the two intervals' half-widths combined in quadrature (conservative for
    the same prompts; None intervals: never beyond noise)."""
    from careal.metrics.confidence import combined_half_width

    def beats(challenger: str, pick: str) -> dict:
        a, b = figures[challenger].get(SAFETY), figures[pick].get(SAFETY)
        va, vb = _value(figures[challenger], SAFETY), _value(figures[pick], SAFETY)
        diff = None if va is None or vb is None else round(va - vb, 6)
        half = combined_half_width(b if isinstance(b, Mapping) else None, a if isinstance(a, Mapping) else None)
        significant = None if half is None or diff is None else bool(abs(diff) > half)
        return {"difference": diff, "half_width": None if half is None else round(half, 6), "significant": significant, "test": "unpaired: |difference| > half-widths in quadrature"}

    return beats


def paired_beats(items_by_policy: Mapping[str, list], seed: int, record: dict | None = None) -> Callable[[str, str], dict]:
    """Within a run: the challenger's Safety Score minus the pick's on the same validation
    prompts (``paired_comparison``, the same base-prompt resamples for both); beyond noise when
    its 95% interval excludes 0. Each comparison made is kept in ``record`` (``"cP->cK"``)."""
    from careal.metrics.confidence import paired_comparison

    def beats(challenger: str, pick: str) -> dict:
        result = paired_comparison(items_by_policy[pick], items_by_policy[challenger], seed)
        if record is not None:
            record[f"{pick}->{challenger}"] = {"difference": result["difference"], "mcnemar": result["mcnemar"]}
        cell = result["difference"][SAFETY]
        return {"difference": cell["value"], "lo": cell["lo"], "hi": cell["hi"], "significant": cell.get("significant"), "test": "paired bootstrap on the validation prompts"}

    return beats


def cycle_order(name: str) -> tuple:
    """c0, c1, c2, ... in number order; other names after them, by name."""
    if name.startswith("c") and name[1:].isdigit():
        return (0, int(name[1:]), "")
    return (1, 0, name)
