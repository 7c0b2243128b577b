"""Intervals, paired differences and McNemar (careal/metrics/confidence.py) on known cases."""

from __future__ import annotations

import json
import math

import pytest

from careal.metrics.confidence import (
    cluster_resample_counts,
    combined_half_width,
    mcnemar_exact,
    paired_comparison,
    percentile_interval,
    policy_intervals,
)


def items(labels_by_level: dict[int, list[str]], rewrites: int = 1, method: str = "direct", prefix: str = "p") -> list[dict]:
    """Items with ``rewrites`` items per base prompt, all with the same label per base prompt."""
    out = []
    for level, labels in labels_by_level.items():
        for b, label in enumerate(labels):
            for r in range(rewrites):
                out.append({"id": f"{prefix}{level}-{b}-{r}", "base_prompt": f"base {level}-{b}", "harmful_level": level, "method": method, "label": label, "response": "A plain answer that is complete."})
    return out


def test_all_refused_gives_a_zero_width_interval():
    result = policy_intervals(items({2: ["Refuse"] * 50, 0: ["Refuse"] * 20}), seed=0)
    harmful = result["overall"]["harmful_refusal_rate"]
    assert harmful == {"value": 1.0, "lo": 1.0, "hi": 1.0}
    assert result["overall"]["erroneous_refusal_rate"] == {"value": 1.0, "lo": 1.0, "hi": 1.0}
    assert result["overall"]["discrimination"]["lo"] == result["overall"]["discrimination"]["hi"] == 0.0
    assert result["resamples"] == 2000 and result["base_prompts"] == 70 and "base prompts" in result["method"]


def test_a_fifty_fifty_split_is_close_to_the_normal_approximation():
    n = 400
    result = policy_intervals(items({1: ["Refuse", "Accept"] * (n // 2)}), seed=0)
    cell = result["overall"]["harmful_refusal_rate"]
    half = 1.96 * math.sqrt(0.25 / n)                    # 0.049
    assert cell["value"] == 0.5
    assert cell["lo"] == pytest.approx(0.5 - half, abs=0.012)
    assert cell["hi"] == pytest.approx(0.5 + half, abs=0.012)


def test_rewrites_of_one_base_prompt_are_resampled_together():
    """Four identical rewrites per base prompt carry the information of one: the interval
    must be about twice as wide (sqrt 4) as if the 400 items were independent."""
    clustered = policy_intervals(items({1: ["Refuse", "Accept"] * 50}, rewrites=4), seed=0)["overall"]["harmful_refusal_rate"]
    independent = policy_intervals(items({1: ["Refuse", "Accept"] * 200}), seed=0)["overall"]["harmful_refusal_rate"]
    ratio = (clustered["hi"] - clustered["lo"]) / (independent["hi"] - independent["lo"])
    assert 1.7 < ratio < 2.3


def test_same_inputs_give_the_same_bytes_and_the_seed_matters():
    data = items({0: ["Accept", "Refuse", "Accept"] * 10, 1: ["Caution", "Accept"] * 15, 3: ["Refuse", "Accept", "Refuse"] * 10})
    first = json.dumps(policy_intervals(data, seed=3), sort_keys=True)
    assert first == json.dumps(policy_intervals(list(reversed(data)), seed=3), sort_keys=True)
    assert first != json.dumps(policy_intervals(data, seed=4), sort_keys=True)
    keys, counts = cluster_resample_counts(["b", "a", "b", "c"], 5, seed=1)
    assert keys == ["a", "b", "c"] and counts.shape == (5, 3) and (counts.sum(axis=1) == 3).all()


def test_groups_carry_intervals_and_an_undefined_figure_has_none():
    data = items({0: ["Accept"] * 10, 2: ["Refuse"] * 10}, method="direct") + items({2: ["Accept"] * 10}, method="role_play", prefix="q")
    result = policy_intervals(data, seed=0)
    assert set(result["by_harm_level"]) == {"0", "2"} and set(result["by_method"]) == {"direct", "role_play"}
    # role_play has no harmless prompt: no erroneous refusal rate, no interval
    assert result["by_method"]["role_play"]["erroneous_refusal_rate"] == {"value": None, "lo": None, "hi": None}
    assert result["by_method"]["role_play"]["harmful_refusal_rate"]["value"] == 0.0
    # level 2 half refused (direct) and half accepted (role play)
    assert result["by_harm_level"]["2"]["harmful_refusal_rate"]["value"] == 0.5


def test_a_missing_base_prompt_is_a_clear_error():
    data = items({1: ["Refuse"] * 3})
    del data[1]["base_prompt"]
    with pytest.raises(ValueError, match=r"item 2 \(id 'p1-1-0'\) has no 'base_prompt'"):
        policy_intervals(data, seed=0)


def test_mcnemar_exact_known_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)          # 2 x 0.5^10
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_exact(1500, 1500) == 1.0 and mcnemar_exact(1000, 1300) < 1e-7   # CARES-18K sizes: no overflow


def test_paired_comparison_finds_a_real_change_and_not_a_null_one():
    before = items({1: ["Accept"] * 40, 0: ["Accept"] * 20})
    after = items({1: ["Refuse"] * 30 + ["Accept"] * 10, 0: ["Accept"] * 19 + ["Refuse"]})
    result = paired_comparison(before, after, seed=0)
    harmful = result["difference"]["harmful_refusal_rate"]
    assert harmful["value"] == 0.75 and harmful["significant"] is True and harmful["lo"] > 0.5
    assert result["difference"]["erroneous_refusal_rate"]["significant"] is False   # one harmless prompt
    assert result["mcnemar"]["harmful"] == {"prompts": 40, "newly_refused": 30, "no_longer_refused": 0, "p": float(f"{mcnemar_exact(30, 0):.6g}")}
    assert result["mcnemar"]["harmless"]["newly_refused"] == 1 and result["mcnemar"]["harmless"]["p"] == 1.0
    same = paired_comparison(before, before, seed=0)["difference"]["safety_score"]
    assert same == {"value": 0.0, "lo": 0.0, "hi": 0.0, "significant": False}


def test_paired_comparison_refuses_different_prompts():
    with pytest.raises(ValueError, match="not scored on the same prompts"):
        paired_comparison(items({1: ["Accept"] * 3}), items({1: ["Accept"] * 4}), seed=0)


def test_percentile_interval_and_combined_half_width():
    assert percentile_interval([float("nan")] * 6 + [1.0] * 4) is None
    assert percentile_interval([0.0, 1.0] * 50) == (0.0, 1.0)
    assert combined_half_width({"lo": 0.4, "hi": 0.6}, {"lo": 0.5, "hi": 0.9}) == pytest.approx(math.hypot(0.1, 0.2))
    assert combined_half_width({"lo": None, "hi": None}, {"lo": 0.5, "hi": 0.9}) is None
