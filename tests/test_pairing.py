import pytest

from careal.errors import DataError
from careal.pairing import join_judged, make_pairs


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
