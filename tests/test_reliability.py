"""Reliability functions on hand-made label sets, against values computed by hand."""

import pytest

from careal.metrics.reliability import accept_rate_by_level, against_gold, agreement, cohen_kappa, confusion_matrix
from careal.metrics.scoring import ALL_LABELS, LABELS

A, C, R, U = "Accept", "Caution", "Refuse", "Unparsed"

# Ten answers, two judges. Pairs: (A,A) x3, (A,C), (C,C) x2, (C,R), (R,R) x2, (R,A).
# p_o = 7/10; row shares A .4 C .3 R .3, column shares A .4 C .3 R .3,
# p_e = .16 + .09 + .09 = .34; kappa = (.7 - .34) / (1 - .34) = .36 / .66 = 6/11.
JUDGE_A = [A, A, A, A, C, C, C, R, R, R]
JUDGE_B = [A, A, A, C, C, C, R, R, R, A]


def test_confusion_matrix_counts_rows_a_columns_b_with_every_label():
    m = confusion_matrix(JUDGE_A, JUDGE_B)
    assert list(m) == list(ALL_LABELS) and all(list(row) == list(ALL_LABELS) for row in m.values())
    assert m[A] == {A: 3, C: 1, R: 0, U: 0}
    assert m[C] == {A: 0, C: 2, R: 1, U: 0}
    assert m[R] == {A: 1, C: 0, R: 2, U: 0}
    assert m[U] == {A: 0, C: 0, R: 0, U: 0}
    assert sum(sum(row.values()) for row in m.values()) == 10


def test_confusion_matrix_is_transposed_when_the_judges_swap():
    m, t = confusion_matrix(JUDGE_A, JUDGE_B), confusion_matrix(JUDGE_B, JUDGE_A)
    assert all(m[x][y] == t[y][x] for x in ALL_LABELS for y in ALL_LABELS)


def test_agreement_and_kappa_match_the_hand_computation():
    assert agreement(JUDGE_A, JUDGE_B) == pytest.approx(0.7)
    assert cohen_kappa(JUDGE_A, JUDGE_B) == pytest.approx(6 / 11)
    assert cohen_kappa(JUDGE_B, JUDGE_A) == pytest.approx(6 / 11)


def test_perfect_agreement_is_kappa_one():
    labels = [A, C, R, U, A, R]
    assert agreement(labels, labels) == 1.0
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)


def test_chance_level_agreement_is_kappa_zero():
    # p_o = 2/4; p_e = .5 * .5 + .5 * .5 = .5.
    assert cohen_kappa([A, A, R, R], [A, R, A, R]) == pytest.approx(0.0)
    # One side constant, the other split: p_o = .5, p_e = 1 * .5 = .5.
    assert cohen_kappa([A, A, A, A], [A, A, R, R]) == pytest.approx(0.0)


def test_systematic_disagreement_is_negative_kappa():
    # p_o = 0, p_e = .5: kappa = -.5 / .5 = -1.
    assert cohen_kappa([A, R], [R, A]) == pytest.approx(-1.0)


def test_one_label_everywhere_on_both_sides_has_no_kappa():
    assert agreement([R, R, R], [R, R, R]) == 1.0
    assert cohen_kappa([R, R, R], [R, R, R]) is None


def test_mismatched_lengths_and_unknown_labels_raise():
    with pytest.raises(ValueError, match="length"):
        agreement([A, A], [A])
    with pytest.raises(ValueError, match="length"):
        cohen_kappa([A], [A, C])
    with pytest.raises(ValueError, match="length"):
        confusion_matrix([A], [])
    with pytest.raises(ValueError, match="length"):
        accept_rate_by_level([0, 1], [A])
    with pytest.raises(ValueError, match="length"):
        against_gold([A], [A, R])
    with pytest.raises(ValueError, match=r"b\[1\] is 'Reject'"):
        confusion_matrix([A, R], [A, "Reject"])
    with pytest.raises(ValueError, match="empty"):
        agreement([], [])


def test_accept_rate_by_level_counts_every_label_in_the_denominator():
    levels = [0, 0, 0, 0, 1, 1, 3, 3, 3, 2]
    labels = [A, A, A, U, C, R, A, R, R, A]
    assert accept_rate_by_level(levels, labels) == {"0": 0.75, "1": 0.0, "2": 1.0, "3": pytest.approx(1 / 3)}
    assert list(accept_rate_by_level(levels, labels)) == ["0", "1", "2", "3"]
    assert accept_rate_by_level([10, 2], [A, R]) == {"2": 0.0, "10": 1.0}  # numeric order, not string
    assert accept_rate_by_level([], []) == {}


def test_against_gold_matches_the_hand_computation():
    gold = [A, A, A, C, C, C, R, R, R, R]
    pred = [A, A, C, C, C, U, R, R, R, A]
    report = against_gold(pred, gold)
    assert report["n"] == 10
    assert report["accuracy"] == pytest.approx(0.7)
    # Accept: 2 right of 3 predicted, 3 gold; Caution: 2 of 3, 3 gold; Refuse: 3 of 3, 4 gold.
    assert report["per_class"][A] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert report["per_class"][C] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert report["per_class"][R] == pytest.approx({"precision": 1.0, "recall": 0.75, "f1": 6 / 7, "support": 4})
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 6 / 7) / 3)
    # kappa over A, C, R, U: p_o = .7; pred shares .3 .3 .3 .1, gold .3 .3 .4 0:
    # p_e = .09 + .09 + .12 = .3, kappa = .4 / .7.
    assert report["kappa"] == pytest.approx(4 / 7)
    assert set(report["per_class"]) == set(LABELS)


def test_against_gold_perfect_and_always_unparsed():
    gold = [A, C, R, R]
    assert against_gold(gold, gold)["accuracy"] == 1.0
    assert against_gold(gold, gold)["macro_f1"] == 1.0
    worst = against_gold([U] * 4, gold)
    assert worst["accuracy"] == 0.0 and worst["macro_f1"] == 0.0
    assert all(c["precision"] == 0.0 and c["recall"] == 0.0 for c in worst["per_class"].values())


def test_against_gold_leaves_a_class_nobody_used_out_of_the_macro_average():
    # No Caution in gold or pred: macro-F1 is the mean of Accept and Refuse only.
    report = against_gold([A, A, R], [A, R, R])
    # Accept: P 1/2, R 1 -> F1 2/3; Refuse: P 1, R 1/2 -> F1 2/3.
    assert report["macro_f1"] == pytest.approx(2 / 3)
    assert report["per_class"][C] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_against_gold_rejects_unparsed_or_unknown_gold():
    with pytest.raises(ValueError, match=r"gold\[0\] is 'Unparsed'"):
        against_gold([A], [U])
    with pytest.raises(ValueError, match=r"pred\[0\] is 'Maybe'"):
        against_gold(["Maybe"], [A])
