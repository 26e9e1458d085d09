"""Disentanglement scores of a representation against known generative factors (numpy).

``codes [N, D]`` are posterior means, ``factors [N, F]`` integer factor classes (as
dSprites' ``latents_classes``).  Each function returns plain floats (or a dict).

* ``disentanglement_score``: Kim & Mnih's majority-vote score as Mathieu et al.'s code
  computes it (below), the paper's number;
* ``factor_vae_score``: the same score as disentanglement_lib computes it (separate
  training and evaluation votes, batches of 64, collapsed dimensions pruned).
* ``mutual_information_gap`` (Chen et al. 2018), codes discretised into bins.
* ``dci`` (Eastwood & Williams 2018): importances from gradient-boosted trees.
* ``hoyer_sparsity`` of the normalised codes, averaged over examples.
* ``component_balance``: how evenly encodings use a mixture prior's components.
"""

import numpy as np
from scipy import stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import mutual_info_score


def _check(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes, np.float64), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(
            f"codes must be [N, D] and factors [N, F] with the same N, got {codes.shape} and "
            f"{factors.shape}"
        )
    if not np.issubdtype(factors.dtype, np.integer):
        raise TypeError(f"factors must be integer classes, got dtype {factors.dtype}")
    return codes, factors


def _normalise(codes: np.ndarray) -> np.ndarray:
    std = codes.std(axis=0)
    return codes / np.where(std > 1e-12, std, 1.0)


def disentanglement_score(
    codes,
    factors,
    *,
    num_votes: int = 20_000,
    subset_size: int = 1_000,
    rng: np.random.Generator,
    student_t_df: float | None = None,
) -> float:
    """The majority-vote score in [0, 1], as the original's ``compute_disentanglement``:
    codes divided by their std; per vote a factor k uniform over all factors, its value
    uniform over the values k takes (held by two codes or more: the full grid's all),
    ``subset_size`` of the codes with that value drawn
    without replacement (all of them if fewer), and the dimension of least variance votes
    for k; the score is the accuracy of the per-dimension majority vote on the same
    votes.  ``student_t_df`` first maps codes through the t CDF and the Gaussian inverse
    CDF (the paper's Student-t variant)."""
    codes, factors = _check(codes, factors)
    if student_t_df is not None:
        u = np.clip(stats.t.cdf(codes, df=student_t_df), 1e-7, 1 - 1e-7)
        codes = stats.norm.ppf(u)
    z = _normalise(codes)
    values = []  # a variance needs two codes: values held by one code only cannot vote
    for k in range(factors.shape[1]):
        v, n = np.unique(factors[:, k], return_counts=True)
        values.append(v[n >= 2])
    voting = np.flatnonzero([len(v) > 0 for v in values])
    if not len(voting):
        raise ValueError("no factor value is shared by two codes: too few codes to score")
    votes = np.zeros((z.shape[1], factors.shape[1]), np.int64)
    for k in voting[rng.integers(0, len(voting), num_votes)]:
        value = values[k][rng.integers(len(values[k]))]
        rows = np.flatnonzero(factors[:, k] == value)
        subset = z[rng.permutation(rows)[:subset_size]]
        votes[np.argmin(subset.var(axis=0, ddof=1)), k] += 1
    return float(votes.max(axis=1).sum() / num_votes)


def factor_vae_score(
    codes,
    factors,
    *,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance: int = 10_000,
    prune: float = 0.05,
) -> dict:
    """Kim & Mnih's score as disentanglement_lib's ``factor_vae`` computes it, on a finite set
    of ``codes`` with their ``factors``: global variances of the codes (``num_variance``
    of them), dimensions of variance below ``prune`` dropped; per vote a factor k uniform
    over the factors that vary, its value that of a random example, ``batch_size`` codes
    with that value (without replacement: the set is finite), and the active dimension of
    least variance relative to its global one votes for k.  The majority-vote classifier
    is fitted on ``num_train`` votes and scored on ``num_eval`` others.  ``{"train_accuracy",
    "eval_accuracy", "active_dimensions"}``; accuracies 0 when every dimension collapsed."""
    codes, factors = _check(codes, factors)
    sample = codes[rng.permutation(len(codes))[:num_variance]]
    global_var = sample.var(axis=0, ddof=1)
    active = np.flatnonzero(global_var >= prune)
    if not len(active):
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dimensions": 0}
    # a vote's value is that of an example sharing it with another (a variance needs two;
    # on the full grid that is every example)
    shared = {k: np.flatnonzero(_value_counts(factors[:, k]) >= 2) for k in range(factors.shape[1])}
    varying = [k for k in shared if len(shared[k]) and len(np.unique(factors[:, k])) > 1]
    if not varying:
        raise ValueError("no factor value is shared by two codes: too few codes to score")

    def votes(n: int) -> np.ndarray:
        out = np.zeros((codes.shape[1], factors.shape[1]), np.int64)
        for k in rng.choice(varying, n):
            value = factors[shared[k][rng.integers(len(shared[k]))], k]
            rows = np.flatnonzero(factors[:, k] == value)
            local = codes[rng.permutation(rows)[:batch_size]].var(axis=0, ddof=1)
            out[active[np.argmin(local[active] / global_var[active])], k] += 1
        return out

    train, evaluation = votes(num_train), votes(num_eval)
    classifier = np.argmax(train, axis=1)  # each dimension's majority factor
    correct = lambda v: float(v[np.arange(len(classifier)), classifier].sum() / v.sum())
    return {
        "train_accuracy": correct(train),
        "eval_accuracy": correct(evaluation),
        "active_dimensions": int(len(active)),
    }


def _value_counts(values: np.ndarray) -> np.ndarray:
    """``[N]``: how many of ``values`` equal each one."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return counts[inverse]


def mutual_information_gap(codes, factors, bins: int = 20) -> float:
    """Mean over factors of (largest - second largest MI with one code dimension) / H(factor)."""
    codes, factors = _check(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions")
    binned = [np.digitize(c, np.histogram_bin_edges(c, bins)[1:-1]) for c in codes.T]
    gaps = []
    for k in range(factors.shape[1]):
        h = mutual_info_score(factors[:, k], factors[:, k])
        if h <= 0:
            continue  # a constant factor carries no information
        mi = np.sort([mutual_info_score(factors[:, k], b) for b in binned])[::-1]
        gaps.append((mi[0] - mi[1]) / h)
    return float(np.mean(gaps))


def _entropy(p: np.ndarray, base: int) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=0, keepdims=True), 1e-12)
    return -np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-12)), 0.0), axis=0) / np.log(base)


def dci(codes, factors, *, train_fraction: float = 0.8, seed: int = 0) -> dict[str, float]:
    """``{"disentanglement", "completeness", "informativeness"}`` (the last: mean test
    accuracy of one gradient-boosted classifier per factor on the codes)."""
    codes, factors = _check(codes, factors)
    n_train = int(len(codes) * train_fraction)
    order = np.random.default_rng(seed).permutation(len(codes))
    tr, te = order[:n_train], order[n_train:]
    d = codes.shape[1]
    importance, accuracy = [], []
    for k in range(factors.shape[1]):
        y = factors[:, k]
        if len(np.unique(y[tr])) < 2:
            continue
        model = GradientBoostingClassifier(random_state=seed).fit(codes[tr], y[tr])
        importance.append(np.abs(model.feature_importances_))
        accuracy.append(model.score(codes[te], y[te]))
    r = np.stack(importance, axis=1)  # [D, K]
    disent = 1.0 - _entropy(r.T, base=max(r.shape[1], 2))  # per code dimension
    weights = r.sum(axis=1) / max(r.sum(), 1e-12)
    complete = 1.0 - _entropy(r, base=max(d, 2))  # per factor
    return {
        "disentanglement": float(np.sum(weights * disent)),
        "completeness": float(np.mean(complete)),
        "informativeness": float(np.mean(accuracy)),
    }


def hoyer_sparsity(codes) -> float:
    """Mean over examples of ``(sqrt(D) - |z|_1 / |z|_2) / (sqrt(D) - 1)`` of the codes
    normalised by their per-dimension std: 1 for one active dimension, 0 for all equal."""
    z = _normalise(np.asarray(codes, np.float64))
    d = z.shape[1]
    l1, l2 = np.abs(z).sum(axis=1), np.sqrt(np.square(z).sum(axis=1))
    ratio = np.where(l2 > 0, l1 / np.maximum(l2, 1e-12), np.sqrt(d))
    return float(np.mean((np.sqrt(d) - ratio) / (np.sqrt(d) - 1)))


def component_balance(assignments, num_components: int) -> float:
    """How evenly points use ``num_components`` clusters: the entropy of the assignment
    frequencies over ``log(num_components)`` (1: equally, 0: all in one)."""
    counts = np.bincount(np.asarray(assignments), minlength=num_components)
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)) / np.log(num_components))
