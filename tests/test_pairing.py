import pytest

from careal.errors import DataError
from careal.preference.pairing import join_judged, make_pairs


def items_for(level, labels, prompt_id="p"):
    return [
        {"id": prompt_id, "harmful_level": level, "prompt": f"prompt {prompt_id}", "sample": k, "response": f"{label} answer {k}", "label": label}
        for k, label in enumerate(labels)
    ]


def test_kto_rows_follow_the_safety_score():
    items = items_for(0, ["Accept", "Refuse"], "a") + items_for(2, ["Caution", "Refuse", "Accept", "Unparsed"], "b")
    kto, dpo, stats = make_pairs(items)
    labels = {(r["id"], r["sample"]): r["label"] for r in kto}
    assert labels == {("a", 0): True, ("a", 1): False, ("b", 1): True, ("b", 2): False}
    assert stats["by_harm_level"]["2"]["neutral"] == 1 and stats["by_harm_level"]["2"]["unparsed"] == 1


def test_dpo_pairs_best_against_worst_and_drop_ties():
    items = items_for(3, ["Refuse", "Accept", "Caution"], "a") + items_for(1, ["Caution", "Refuse"], "tie")
    kto, dpo, stats = make_pairs(items, max_pairs_per_prompt=2)
    assert len(dpo) == 2  # chosen Refuse (1.0) vs Accept and Caution (both 0.0): two pairs, none from the tie
    assert {(p["chosen_sample"], p["rejected_sample"]) for p in dpo} == {(0, 1), (0, 2)}
    assert all(p["score_margin"] == 1.0 for p in dpo)
    assert stats["by_harm_level"]["1"]["tied_prompts"] == 1


def test_dpo_margin_for_a_level_two_caution():
    kto, dpo, _ = make_pairs(items_for(2, ["Caution", "Accept"]))
    assert len(dpo) == 1 and dpo[0]["score_margin"] == 0.5 and dpo[0]["chosen_label"] == "Caution"


def test_harmless_pairs_are_repeated_to_balance_when_asked():
    items = items_for(0, ["Accept", "Refuse"], "h") + items_for(3, ["Refuse", "Accept"], "x") + items_for(3, ["Refuse", "Accept"], "y") + items_for(3, ["Refuse", "Accept"], "z")
    _, plain, _ = make_pairs(items, 1, balance_harmless=False)
    _, balanced, stats = make_pairs(items, 1, balance_harmless=True)
    assert len(plain) == 4 and len(balanced) == 6
    assert sum(p["harmful_level"] == 0 for p in balanced) == 3
    assert stats["by_harm_level"]["0"]["dpo_pairs_repeated"] == 2


def test_join_rejects_missing_judgments_and_unknown_ids():
    prompts = [{"id": "a", "harmful_level": 0, "prompt": "q"}]
    paths = {"prompts": "train.jsonl", "generations": "gen.jsonl", "judgments": "judg.jsonl"}
    gens = [{"id": "a", "sample": 0, "response": "r"}, {"id": "a", "sample": 1, "response": "r"}]
    with pytest.raises(DataError, match=r"gen.jsonl, row 2, field 'sample': no judgment for id 'a' sample 1"):
        join_judged(prompts, gens, [{"id": "a", "sample": 0, "label": "Accept"}], paths)
    with pytest.raises(DataError, match=r"gen.jsonl, row 1, field 'id': 'b' is not in train.jsonl"):
        join_judged(prompts, [{"id": "b", "sample": 0, "response": "r"}], [], paths)


def test_pairs_carry_their_method_and_stats_count_per_method():
    items = [dict(i, method="indirect") for i in items_for(3, ["Refuse", "Accept"], "x")] + [dict(i, method="direct") for i in items_for(0, ["Accept", "Caution"], "h")]
    kto, dpo, stats = make_pairs(items, 1)
    assert {p["method"] for p in dpo} == {"indirect", "direct"}
    assert stats["by_method"]["indirect"] == {"desirable": 1, "undesirable": 1, "dpo_pairs": 1, "dpo_pairs_harmless": 0}
    assert stats["by_method"]["direct"]["dpo_pairs_harmless"] == 1


def test_best_vs_random_pairs_the_best_with_a_seeded_lower_answer():
    items = items_for(2, ["Refuse", "Caution", "Accept", "Accept"], "a")
    picks = {make_pairs(items, 4, strategy="best_vs_random", seed=s)[1][0]["rejected_sample"] for s in range(20)}
    assert picks == {1, 2, 3}  # Caution (0.5) and both Accepts (0) are all possible partners of the Refuse
    _, again, _ = make_pairs(items, 4, strategy="best_vs_random", seed=3)
    assert again == make_pairs(items, 4, strategy="best_vs_random", seed=3)[1]
    assert all(p["chosen_sample"] == 0 for p in again)


def test_all_pairs_takes_every_higher_lower_combination_largest_margin_first_with_a_cap():
    items = items_for(2, ["Refuse", "Caution", "Accept"], "a")
    _, dpo, _ = make_pairs(items, 10, strategy="all_pairs")
    assert [(p["chosen_sample"], p["rejected_sample"], p["score_margin"]) for p in dpo] == [(0, 2, 1.0), (0, 1, 0.5), (1, 2, 0.5)]
    _, capped, _ = make_pairs(items, 2, strategy="all_pairs")
    assert len(capped) == 2 and capped[0]["score_margin"] == 1.0


def test_min_score_margin_drops_half_point_pairs_and_counts_them():
    items = items_for(2, ["Refuse", "Caution", "Accept"], "a")
    _, dpo, stats = make_pairs(items, 10, strategy="all_pairs", min_score_margin=1.0)
    assert [(p["chosen_sample"], p["rejected_sample"]) for p in dpo] == [(0, 2)]
    assert stats["by_harm_level"]["2"]["below_min_margin"] == 2
    _, none, stats = make_pairs(items_for(2, ["Caution", "Accept"], "b"), 2, min_score_margin=1.0)
    assert none == [] and stats["by_harm_level"]["2"]["below_min_margin"] == 1


def test_near_identical_pairs_are_filtered_and_counted():
    items = items_for(3, ["Refuse", "Accept", "Accept"], "a")
    items[0]["response"] = "I'm sorry, but I can't help with that. First, list each step."
    items[1]["response"] = "Sure, but I can't help with that. First, list each step."
    items[2]["response"] = "Sure. First, gather the records. Then, keep notes."
    from careal.preference.pairing import text_similarity

    assert text_similarity(items[0]["response"], items[1]["response"]) > 0.7 > text_similarity(items[0]["response"], items[2]["response"])
    _, kept, _ = make_pairs(items, 2)
    _, filtered, stats = make_pairs(items, 2, max_text_similarity=0.7)
    assert len(kept) == 2 and [p["rejected_sample"] for p in filtered] == [2]
    assert stats["by_harm_level"]["3"]["near_identical"] == 1


def test_balance_by_method_repeats_harmless_pairs_within_each_method():
    def tagged(level, labels, pid, method):
        return [dict(i, method=method) for i in items_for(level, labels, pid)]

    items = (tagged(0, ["Accept", "Refuse"], "h1", "direct") + tagged(3, ["Refuse", "Accept"], "x1", "direct")
             + tagged(0, ["Accept", "Refuse"], "h2", "role_play") + tagged(3, ["Refuse", "Accept"], "x2", "role_play")
             + tagged(3, ["Refuse", "Accept"], "x3", "role_play") + tagged(3, ["Refuse", "Accept"], "x4", "role_play"))
    _, pooled, _ = make_pairs(items, 1, True)
    _, by_method, stats = make_pairs(items, 1, True, balance_by_method=True)
    harmless = lambda pairs, m: sum(p["harmful_level"] == 0 and p["method"] == m for p in pairs)
    assert harmless(by_method, "direct") == 1 and harmless(by_method, "role_play") == 3
    assert stats["by_harm_level"]["0"]["dpo_pairs_repeated"] == 2
    assert len(pooled) == 8 and harmless(pooled, "direct") + harmless(pooled, "role_play") == 4


def test_unknown_strategy_is_an_error():
    with pytest.raises(ValueError, match="unknown pairing strategy 'best'"):
        make_pairs(items_for(3, ["Refuse", "Accept"]), strategy="best")


def test_fluent_chosen_never_trains_towards_degenerate_text():
    """A garbled refusal of a harmful prompt scores like a clean one for the judge; with
    fluent_chosen it is neither a KTO desirable row nor a DPO chosen answer, only a rejected one."""
    texts = ["'m sorry, but I won't help with that.", "I'm sorry, but I can't help with that.", "Sure. First, keep notes. Then, start small.", "harmful"]
    labels = ["Refuse", "Refuse", "Accept", "Refuse"]
    items = [{"id": "x", "harmful_level": 3, "prompt": "p", "sample": k, "response": t, "label": l} for k, (t, l) in enumerate(zip(texts, labels))]
    harmless = [{"id": "h", "harmful_level": 0, "prompt": "q", "sample": k, "response": t, "label": l}
                for k, (t, l) in enumerate([("SureSure. First, keep notes.", "Accept"), ("I'm sorry, I won't help with that.", "Refuse")])]
    kto, dpo, stats = make_pairs(items + harmless, max_pairs_per_prompt=4)
    assert {p["chosen_sample"] for p in dpo if p["id"] == "x"} == {0, 1, 3}  # without it: garbled chosen too
    kto, dpo, stats = make_pairs(items + harmless, max_pairs_per_prompt=4, fluent_chosen=True)
    assert [(p["id"], p["chosen_sample"], p["rejected_sample"]) for p in dpo] == [("x", 1, 2)]  # h: its only better answer is degenerate
    assert {(r["id"], r["sample"], r["label"]) for r in kto} == {("x", 1, True), ("x", 2, False), ("h", 1, False)}
    level3, level0 = stats["by_harm_level"]["3"], stats["by_harm_level"]["0"]
    assert level3["degenerate"] == 2 and level3["degenerate_not_target"] == 2 and level0["degenerate_not_target"] == 1
    # a degenerate answer can still be the rejected one
    worse = [{"id": "y", "harmful_level": 0, "prompt": "r", "sample": k, "response": t, "label": l}
             for k, (t, l) in enumerate([("Sure. First, keep notes. Then, start small.", "Accept"), ("I'm sorry, but I.", "Refuse")])]
    _, dpo, _ = make_pairs(worse, fluent_chosen=True)
    assert [(p["chosen_sample"], p["rejected_sample"]) for p in dpo] == [(0, 1)]


def test_max_repeat_subsamples_harmful_pairs_instead_of_repeating_few_harmless_ones():
    harmful = [item for n in range(9) for item in items_for(3, ["Refuse", "Accept"], f"x{n}")]
    harmless = items_for(0, ["Accept", "Refuse"], "h")
    _, unlimited, _ = make_pairs(harmful + harmless, 1, balance_harmless=True)
    assert len(unlimited) == 18 and sum(p["harmful_level"] == 0 for p in unlimited) == 9  # one lesson, nine times
    _, capped, stats = make_pairs(harmful + harmless, 1, balance_harmless=True, max_repeat=2, seed=1)
    assert sum(p["harmful_level"] == 0 for p in capped) == 2 and sum(p["harmful_level"] == 3 for p in capped) == 2
    assert stats["by_harm_level"]["3"]["dpo_pairs_dropped_to_balance"] == 7 and stats["dpo_pairs"] == 4
    assert capped == make_pairs(harmful + harmless, 1, balance_harmless=True, max_repeat=2, seed=1)[1]  # seeded
    # enough distinct harmless pairs: the cap changes nothing
    more = [item for n in range(5) for item in items_for(0, ["Accept", "Refuse"], f"h{n}")]
    assert make_pairs(harmful + more, 1, balance_harmless=True, max_repeat=2)[1] == make_pairs(harmful + more, 1, balance_harmless=True)[1]


# --- fallback answers (pair.fallback_chosen / fallback_rejected) -----------------------------


def test_without_a_fallback_a_policy_that_never_refuses_gives_no_dpo_pair():
    items = items_for(3, ["Accept"] * 4, "x") + items_for(2, ["Accept", "Accept", "Unparsed"], "y") + items_for(0, ["Accept"] * 4, "h")
    kto, dpo, stats = make_pairs(items, 2, balance_harmless=True)
    assert dpo == [] and stats["totals"]["tied_prompts"] == 3
    assert stats["totals"]["fallback_chosen"] == 0 and "fallback" not in stats


def test_fallback_chosen_gives_harmful_prompts_an_ideal_answer_as_chosen_and_counts_it():
    from careal.data.styles import FALLBACK_CAUTION, FALLBACK_REFUSALS

    items = (items_for(1, ["Accept", "Accept"], "m") + items_for(2, ["Accept", "Caution"], "c") + items_for(3, ["Accept"] * 4, "x")
             + items_for(3, ["Refuse", "Accept"], "ok") + items_for(0, ["Accept", "Accept"], "h") + items_for(2, ["Unparsed"], "u"))
    kto, dpo, stats = make_pairs(items, 2, fallback_chosen=True, seed=3)
    by_id = {}
    for pair in dpo:
        by_id.setdefault(pair["id"], []).append(pair)
    # level 1 gets a caution, levels 2 and 3 a refusal; a level-2 Caution (score 0.5) is not ideal
    assert by_id["m"][0]["chosen"] in FALLBACK_CAUTION and by_id["m"][0]["chosen_label"] == "Caution"
    assert by_id["c"][0]["chosen"] in FALLBACK_REFUSALS and by_id["c"][0]["rejected_label"] == "Accept"
    assert len(by_id["x"]) == 2 and {p["rejected_sample"] for p in by_id["x"]} == {0, 1}
    assert all(p["chosen_sample"] == -1 and p["fallback"] == "chosen" and p["score_margin"] == 1.0 for i in "mcx" for p in by_id[i])
    # a prompt that already has an ideal answer, a harmless one and an all-Unparsed one get none
    assert "fallback" not in by_id["ok"][0] and "h" not in by_id and "u" not in by_id
    levels = stats["by_harm_level"]
    assert (levels["1"]["fallback_chosen"], levels["2"]["fallback_chosen"], levels["3"]["fallback_chosen"], levels["0"]["fallback_chosen"]) == (1, 1, 1, 0)
    assert stats["fallback"] == {"chosen": True, "rejected": False, "kto_rows": 3, "dpo_pairs": 5}  # m 2, c 1, x 2
    assert sum(1 for r in kto if r.get("fallback") == "chosen" and r["label"] and r["sample"] == -1) == 3
    # the same seed writes the same answers
    assert make_pairs(items, 2, fallback_chosen=True, seed=3)[1] == dpo


def test_fallback_rejected_pairs_a_harmless_prompts_own_answers_against_a_written_refusal():
    from careal.data.styles import FALLBACK_REFUSALS

    items = items_for(0, ["Accept"] * 3, "h") + items_for(0, ["Accept", "Refuse"], "mixed") + items_for(3, ["Accept"] * 2, "x")
    kto, dpo, stats = make_pairs(items, 2, fallback_rejected=True)
    pairs = [p for p in dpo if p["id"] == "h"]
    assert len(pairs) == 2 and all(p["rejected"] in FALLBACK_REFUSALS and p["rejected_sample"] == -1 and p["fallback"] == "rejected" for p in pairs)
    assert {p["chosen_sample"] for p in pairs} == {0, 1}
    assert stats["by_harm_level"]["0"]["fallback_rejected"] == 1 and stats["by_harm_level"]["3"]["tied_prompts"] == 1
    assert [r["label"] for r in kto if r.get("fallback")] == [False]


def test_the_fallback_answers_read_as_intended_by_the_rules_judge():
    from careal.data.styles import FALLBACK_CAUTION, FALLBACK_REFUSALS
    from careal.judges.rules import RulesJudge

    judge = RulesJudge()
    assert [judge.label(t)[0] for t in FALLBACK_CAUTION] == ["Caution"] * len(FALLBACK_CAUTION)
    assert [judge.label(t)[0] for t in FALLBACK_REFUSALS] == ["Refuse"] * len(FALLBACK_REFUSALS)


def test_fallback_style_refuse_writes_a_refusal_at_every_harmful_level():
    """pair.fallback_style: refuse (issue 24): one register, a refusal, for levels 1-3."""
    from careal.preference.pairing import make_pairs

    items = [{"id": f"p{level}", "prompt": f"prompt {level}", "response": "Sure, here is how you do it step by step.", "label": "Accept",
              "harmful_level": level, "method": "direct", "sample": 0} for level in (1, 2, 3)]
    _, ideal, _ = make_pairs(items, 1, fallback_chosen=True)
    _, refuse, stats = make_pairs(items, 1, fallback_chosen=True, fallback_style="refuse")
    assert {p["harmful_level"]: p["chosen_label"] for p in ideal} == {1: "Caution", 2: "Refuse", 3: "Refuse"}
    assert {p["harmful_level"]: p["chosen_label"] for p in refuse} == {1: "Refuse", 2: "Refuse", 3: "Refuse"}
    assert stats["fallback"]["style"] == "refuse"
