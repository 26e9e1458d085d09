"""Downstream probes: are a model's latents useful for predicting scene properties?

Fit a logistic regression and a small MLP (scikit-learn) on frozen features of
train images, report test accuracy per label, beside the same probes on raw
pixels and the majority-class rate.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PROBES = {
    "logistic": lambda seed: LogisticRegression(max_iter=2000, C=1.0, random_state=seed),
    "mlp": lambda seed: MLPClassifier(
        hidden_layer_sizes=(128,), max_iter=500, early_stopping=True, random_state=seed
    ),
}


def _check(x, y, what):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{what}: {len(x)} feature rows but {len(y)} labels")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: features contain NaN or Inf")
    return x, y


def probe_accuracy(train_x, train_y, test_x, test_y, kind: str = "logistic", seed: int = 0):
    """Test accuracy of probe ``kind`` (``'logistic'`` or ``'mlp'``) fitted on the train set."""
    if kind not in PROBES:
        raise ValueError(f"unknown probe {kind!r}; known: {sorted(PROBES)}")
    train_x, train_y = _check(train_x, train_y, "train")
    test_x, test_y = _check(test_x, test_y, "test")
    if len(np.unique(train_y)) < 2:
        return float(np.mean(test_y == train_y[0]))  # one class seen: predict it
    clf = make_pipeline(StandardScaler(), PROBES[kind](seed))
    clf.fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def run_probes(
    train_feats, train_labels: dict, test_feats, test_labels: dict, *, seed: int = 0
) -> dict[str, dict[str, float]]:
    """``{label: {logistic, mlp, majority}}`` test accuracies for every label."""
    out = {}
    for name, y in train_labels.items():
        values, counts = np.unique(y, return_counts=True)
        row = {"majority": float(np.mean(test_labels[name] == values[np.argmax(counts)]))}
        for kind in PROBES:
            row[kind] = probe_accuracy(
                train_feats, y, test_feats, test_labels[name], kind=kind, seed=seed
            )
        out[name] = row
    return out
