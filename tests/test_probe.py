"""The knowledge probe's numpy half (careal/metrics/probe.py) on known data: AUC, the Newton
solver against a plain gradient check, the layer and threshold chosen on train only."""

from __future__ import annotations

import numpy as np
import pytest

from careal.metrics.probe import LinearProbe, auc, best_threshold, fit_logistic, fold_of, probe_report


def test_auc_known_cases():
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5  # ties count one half
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auc([1, 2], [1, 1]) is None


def test_newton_solution_has_zero_gradient_and_the_bias_is_unpenalised():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(float)
    w, b = fit_logistic(x, y, l2=2.0)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert np.allclose(x.T @ (p - y) + 2.0 * w, 0, atol=1e-8)
    assert abs(float(np.sum(p - y))) < 1e-8
    assert w[0] > 0


def test_separable_classes_give_auc_one_and_identical_classes_chance():
    rng = np.random.RandomState(1)
    n, layers, d = 80, 3, 8
    y = np.arange(n) % 2 == 0
    x = rng.normal(size=(n, layers, d))
    x[:, 1, 0] += np.where(y, 6.0, -6.0)  # layer 1 separates the classes; 0 and 2 are noise
    xe = rng.normal(size=(n, layers, d))
    xe[:, 1, 0] += np.where(y, 6.0, -6.0)
    report = probe_report(x, y, list(range(n)), xe, y, l2=1.0, folds=4, seed=0)
    assert report["layer"] == 1 and report["probe_auc"] == 1.0 and report["probe_discrimination"] == 1.0
    assert report["by_layer"][0]["eval_auc"] < 0.75 and report["by_layer"][2]["eval_auc"] < 0.75
    # identical features for both classes: the probe has nothing to read
    same = np.ones((n, 2, 5))
    flat = probe_report(same, y, list(range(n)), same, y, folds=4)
    assert flat["probe_auc"] == 0.5 and flat["probe_discrimination"] == 0.0


def test_more_features_than_rows_is_solved_in_the_train_span():
    rng = np.random.RandomState(2)
    x = rng.normal(size=(20, 100))
    y = np.arange(20) % 2 == 0
    probe = LinearProbe(1.0).fit(x, y)
    assert probe.basis is not None and probe.basis.shape[1] <= 20
    # the same optimum as the full problem (the penalty is rotation-invariant)
    z = (x - probe.mean) / probe.scale
    w, b = fit_logistic(z, y, 1.0)
    assert np.allclose(probe.decision(x), z @ w + b, atol=1e-6)


def test_threshold_and_folds():
    t, j = best_threshold([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1])
    assert j == 1.0 and 0.2 < t < 0.7
    groups = ["a", "a", "b", "c", "c", "d", "e", "f"]
    folds = fold_of(groups, [1, 1, 0, 1, 1, 0, 1, 0], 2, seed=0)
    assert folds[0] == folds[1] and folds[3] == folds[4]  # a base prompt stays in one fold
    assert np.array_equal(folds, fold_of(groups, [1, 1, 0, 1, 1, 0, 1, 0], 2, seed=0))


def test_report_is_deterministic():
    rng = np.random.RandomState(3)
    x = rng.normal(size=(30, 2, 6))
    y = rng.rand(30) > 0.4
    a = probe_report(x, y, list(range(30)), x[:10], y[:10], seed=4)
    b = probe_report(x, y, list(range(30)), x[:10], y[:10], seed=4)
    assert a == b


def test_knowledge_table_sets_the_probe_beside_behaviour(tmp_path):
    import json

    from careal.metrics.knowledge import knowledge_table, load_probes

    (tmp_path / "metrics/probe").mkdir(parents=True)
    (tmp_path / "metrics/probe/c0.json").write_text(json.dumps({"layer": 22, "layers": 31, "best_eval_auc": 0.83, "by_layer": []}))
    (tmp_path / "metrics/probe/c1.json").write_text(json.dumps({"policy": "c1", "probe": "off (evaluate.probe: false)"}))
    probes = load_probes(["c0", "c1"], tmp_path)
    assert list(probes) == ["c0"]
    metrics = {"c0": {"probe_auc": 0.774, "probe_discrimination": 0.383, "discrimination": -0.032}, "c1": {"probe_auc": None, "discrimination": 0.1}}
    text = knowledge_table(metrics, probes)
    assert "knowledge (probe) vs behaviour" in text and "22/30" in text and "+0.415" in text and "\nc1" not in text
    assert knowledge_table({"c0": {"discrimination": 0.1}}) == ""
