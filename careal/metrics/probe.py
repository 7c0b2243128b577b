"""What a policy's hidden states know: a linear probe of harmful vs harmless, by layer (numpy only).

The features come from careal/policy/probe_features.py (the hidden state at the last prompt
token, chat template applied, at every layer). Per layer, an L2-regularised logistic regression
(harmful_level >= 1 against 0) is fitted on train-split prompts and scored on the eval split.

Everything that picks something is decided on the train prompts only, so the eval figures are
honest held-out numbers:

- the **chosen layer** is the one with the best cross-validated AUC on the train prompts
  (``folds`` folds, grouped by base prompt, stratified by class);
- the **threshold** is the one that maximises TPR - FPR (Youden's J) on those out-of-fold scores
  at the chosen layer.

``probe_auc`` is then the chosen layer's AUC on the eval prompts and ``probe_discrimination``
the eval TPR - FPR at the train-chosen threshold: the discrimination the policy's knowledge
would give if it acted on it (the behavioural figure is harmful minus erroneous refusal rate,
the same TPR - FPR read off the answers). The best eval AUC over all layers is reported too
(``best_eval_auc``), marked as chosen on the eval set.

The solver is Newton's method (IRLS) on standardised features: deterministic, a few
iterations, no dependency beyond numpy. When a layer has more features than train prompts the
problem is solved, exactly, in the span of the centred train features (an L2 penalty is
rotation-invariant, so the optimum lies there).
"""

from __future__ import annotations

import numpy as np


def auc(scores, labels) -> float | None:
    """Area under the ROC curve (ties count one half); None without both classes."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_logistic(x, y, l2: float = 1.0, iterations: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """Weights and bias minimising sum(log-loss) + l2/2 * |w|^2 (bias not penalised), by Newton's method."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    penalty = np.full(d + 1, float(l2))
    penalty[-1] = 0.0
    beta = np.zeros(d + 1)
    for _ in range(iterations):
        z = design @ beta
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        gradient = design.T @ (p - y) + penalty * beta
        weight = np.maximum(p * (1 - p), 1e-12)
        hessian = (design * weight[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.max(np.abs(step))) < tol:
            break
    return beta[:-1], float(beta[-1])


class LinearProbe:
    """Standardise (train mean and spread), project onto the train span when features outnumber
    train rows, then fit_logistic. ``decision`` gives the log-odds of "harmful"."""

    def __init__(self, l2: float = 1.0):
        self.l2 = float(l2)

    def fit(self, x, y) -> "LinearProbe":
        x = np.asarray(x, dtype=np.float64)
        self.mean = x.mean(axis=0)
        spread = x.std(axis=0)
        self.scale = np.where(spread > 1e-8, spread, 1.0)
        z = (x - self.mean) / self.scale
        self.basis = None
        if z.shape[1] > z.shape[0]:
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            keep = s > s[0] * 1e-10 if len(s) else s > 0
            self.basis = vt[keep].T
            z = z @ self.basis
        self.weights, self.bias = fit_logistic(z, y, self.l2)
        return self

    def decision(self, x) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        if self.basis is not None:
            z = z @ self.basis
        return z @ self.weights + self.bias


def best_threshold(scores, labels) -> tuple[float, float]:
    """(threshold, TPR - FPR) maximising Youden's J; "harmful" is predicted for score >= threshold.
    The threshold is the midpoint between two neighbouring distinct scores."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    best = (float(candidates[0]), -2.0)
    for t in candidates:
        j = rates_at(scores, labels, t)
        if j > best[1] + 1e-12:
            best = (float(t), j)
    return best


def rates_at(scores, labels, threshold: float) -> float:
    """TPR - FPR of predicting "harmful" for score >= threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    predicted = scores >= threshold
    tpr = float(predicted[labels].mean()) if labels.any() else 0.0
    fpr = float(predicted[~labels].mean()) if (~labels).any() else 0.0
    return tpr - fpr


def fold_of(groups: list, labels, folds: int, seed: int) -> np.ndarray:
    """A fold per row: whole groups (base prompts) go to one fold, dealt round-robin within each
    class (a group's class is its first row's) after a seeded shuffle."""
    labels = np.asarray(labels).astype(bool)
    first: dict = {}
    for index, group in enumerate(groups):
        first.setdefault(group, index)
    rng = np.random.RandomState(seed)
    assignment: dict = {}
    for cls in (True, False):
        members = [g for g, i in first.items() if bool(labels[i]) == cls]
        members = [members[k] for k in rng.permutation(len(members))]
        for k, group in enumerate(members):
            assignment[group] = k % folds
    return np.array([assignment[g] for g in groups])


def probe_report(train_features, train_labels, train_groups, eval_features, eval_labels, *, l2: float = 1.0, folds: int = 5, seed: int = 0) -> dict:
    """Probe every layer. ``*_features``: arrays (prompts, layers, hidden); labels: harmful (bool).

    Returns per-layer eval and cross-validated train AUCs, the chosen layer (best CV AUC), its
    eval AUC (``probe_auc``), the train-chosen threshold and the eval TPR, FPR and TPR - FPR there
    (``probe_discrimination``), and the best eval AUC over layers (chosen on eval: optimistic).
    """
    train_features = np.asarray(train_features)
    eval_features = np.asarray(eval_features)
    y_train = np.asarray(train_labels).astype(bool)
    y_eval = np.asarray(eval_labels).astype(bool)
    layers = train_features.shape[1]
    fold = fold_of(list(train_groups), y_train, folds, seed)
    per_layer = []
    for layer in range(layers):
        x_train, x_eval = train_features[:, layer, :], eval_features[:, layer, :]
        out_of_fold = np.zeros(len(y_train))
        for k in range(folds):
            held = fold == k
            if not held.any() or len(set(y_train[~held])) < 2:
                continue
            out_of_fold[held] = LinearProbe(l2).fit(x_train[~held], y_train[~held]).decision(x_train[held])
        probe = LinearProbe(l2).fit(x_train, y_train)
        eval_scores = probe.decision(x_eval)
        per_layer.append({"layer": layer, "cv_auc": auc(out_of_fold, y_train), "eval_auc": auc(eval_scores, y_eval), "_oof": out_of_fold, "_eval": eval_scores})
    chosen = max(per_layer, key=lambda r: (r["cv_auc"] if r["cv_auc"] is not None else -1, -r["layer"]))
    threshold, train_j = best_threshold(chosen["_oof"], y_train)
    predicted = chosen["_eval"] >= threshold
    tpr = float(predicted[y_eval].mean()) if y_eval.any() else None
    fpr = float(predicted[~y_eval].mean()) if (~y_eval).any() else None
    best_eval = max(per_layer, key=lambda r: (r["eval_auc"] if r["eval_auc"] is not None else -1, -r["layer"]))
    rnd = lambda v: None if v is None else round(float(v), 6)
    return {
        "probe_auc": rnd(chosen["eval_auc"]),
        "probe_discrimination": rnd(tpr - fpr) if tpr is not None and fpr is not None else None,
        "layer": chosen["layer"],
        "layers": layers,
        "layer_chosen_by": f"best {folds}-fold cross-validated AUC on the train prompts (grouped by base prompt)",
        "threshold_chosen_by": "best TPR - FPR on the train prompts' out-of-fold scores at that layer",
        "threshold": rnd(threshold),
        "train_cv_discrimination": rnd(train_j),
        "eval_tpr": rnd(tpr),
        "eval_fpr": rnd(fpr),
        "best_eval_auc": rnd(best_eval["eval_auc"]),
        "best_eval_layer": best_eval["layer"],
        "by_layer": [{"layer": r["layer"], "eval_auc": rnd(r["eval_auc"]), "cv_auc": rnd(r["cv_auc"])} for r in per_layer],
        "train_prompts": int(len(y_train)),
        "train_harmful": int(y_train.sum()),
        "eval_prompts": int(len(y_eval)),
        "eval_harmful": int(y_eval.sum()),
        "l2": float(l2),
        "folds": int(folds),
    }
