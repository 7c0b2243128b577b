"""Which train prompts a cycle answers (``generate.prompts_per_cycle``).

With a size above 0, each cycle draws its own subset of data/prepared/train.jsonl, seeded by
the run's seed and the cycle's name and stratified by harm level x method (largest-remainder
quotas, like the prepare stage's draw), so successive cycles see different prompts from the same
pool and a cycle's draw does not depend on which other cycles exist. Eval prompts are never in
the pool: the prepare stage's split and leak guard already keep them out.
"""

from __future__ import annotations

import random
from collections import defaultdict


def draw_cycle_prompts(prompts: list[dict], size: int, seed: int, cycle: str, harmless_share: float = 0.0) -> list[dict]:
    """``size`` prompts for ``cycle``, in pool order; ``size`` 0 or >= the pool keeps all.

    ``harmless_share`` above 0 sets the share of harmless (harm level 0) prompts in the draw
    (as far as the pool has them; harmful prompts fill the rest), so that a cycle's preference
    data holds as many "answer this" lessons as "refuse this" ones without repeating pairs.
    0 keeps the pool's own proportions.
    """
    if size <= 0 or size >= len(prompts):
        return list(prompts)
    rng = random.Random(f"{seed}:{cycle}")
    if harmless_share <= 0:
        chosen = _stratified(prompts, list(range(len(prompts))), size, rng)
    else:
        harmless = [i for i, r in enumerate(prompts) if int(r["harmful_level"]) == 0]
        harmful = [i for i, r in enumerate(prompts) if int(r["harmful_level"]) != 0]
        n_harmless = min(len(harmless), round(size * harmless_share))
        n_harmful = min(len(harmful), size - n_harmless)
        n_harmless = min(len(harmless), size - n_harmful)
        chosen = _stratified(prompts, harmless, n_harmless, rng) + _stratified(prompts, harmful, n_harmful, rng)
    return [prompts[i] for i in sorted(chosen)]


def _stratified(prompts: list[dict], indices: list[int], size: int, rng: random.Random) -> list[int]:
    """``size`` of ``indices``, each harm level x method cell keeping its share (largest remainder)."""
    if size >= len(indices):
        return list(indices)
    cells: dict[tuple, list[int]] = defaultdict(list)
    for index in indices:
        cells[(int(prompts[index]["harmful_level"]), str(prompts[index]["method"]))].append(index)
    keys = sorted(cells)
    exact = {k: size * len(cells[k]) / len(indices) for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: (-(exact[k] - quota[k]), k))[: size - sum(quota.values())]:
        quota[k] += 1
    chosen = []
    for k in keys:
        chosen.extend(rng.sample(cells[k], quota[k]))
    return chosen
