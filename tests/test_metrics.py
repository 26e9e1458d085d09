import jax
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from ocg_jax.metrics import adjusted_rand_index, segmentation_covering


def _random_maps(seed, b=6, h=12, w=10, nt=4, np_=5):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, nt, size=(b, h, w))
    pred = rng.integers(0, np_, size=(b, h, w))
    pred[0] = true[0]  # a perfect match
    pred[1] = (true[1] + 1) % nt  # a relabelled perfect match
    pred[2] = 0  # one cluster
    true[3, :6] = pred[3, :6]  # partly agreeing
    return true, pred


@pytest.mark.parametrize("ignore_background", [False, True])
def test_ari_matches_sklearn(ignore_background):
    true, pred = _random_maps(0)
    got = np.asarray(adjusted_rand_index(true, pred, ignore_background=ignore_background))
    for i in range(true.shape[0]):
        t, p = true[i].ravel(), pred[i].ravel()
        if ignore_background:
            t, p = t[t != 0], p[t != 0]
        np.testing.assert_allclose(got[i], adjusted_rand_score(t, p), atol=1e-5)
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(1.0)


def test_ari_jit_needs_label_counts():
    true, pred = _random_maps(1)
    f = jax.jit(lambda t, p: adjusted_rand_index(t, p, num_true=5, num_pred=5))
    np.testing.assert_allclose(f(true, pred), adjusted_rand_index(true, pred), atol=1e-6)
    with pytest.raises(ValueError, match="num_true"):
        jax.jit(adjusted_rand_index)(true, pred)


def _covering_numpy(true, pred, ignore_background, weighted):
    out = []
    for t, p in zip(true, pred, strict=True):
        scores, weights = [], []
        for r in np.unique(t):
            if ignore_background and r == 0:
                continue
            region = t == r
            best = max(np.sum(region & (p == s)) / np.sum(region | (p == s)) for s in np.unique(p))
            scores.append(best)
            weights.append(region.sum() if weighted else 1.0)
        out.append(np.average(scores, weights=weights) if scores else np.nan)
    return np.array(out)


@pytest.mark.parametrize("ignore_background", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_segmentation_covering_matches_numpy(ignore_background, weighted):
    true, pred = _random_maps(2)
    got = segmentation_covering(true, pred, ignore_background=ignore_background, weighted=weighted)
    want = _covering_numpy(true, pred, ignore_background, weighted)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert float(got[0]) == pytest.approx(1.0)


def test_covering_is_nan_without_foreground_and_checks_inputs():
    true = np.zeros((1, 4, 4), np.int32)
    assert np.isnan(segmentation_covering(true, true)[0])
    with pytest.raises(ValueError, match="shape"):
        segmentation_covering(true, true[:, :2])
    with pytest.raises(TypeError, match="integers"):
        adjusted_rand_index(true.astype(np.float32), true)
