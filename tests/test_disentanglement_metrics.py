"""Disentanglement metrics on representations with known answers (issue: Disentangling
Disentanglement, metrics part): the factors themselves score about 1, a rotation of them
clearly less, noise about chance."""

import numpy as np
import pytest
from scipy.linalg import hadamard
from scipy.stats import ortho_group
from sklearn.metrics import mutual_info_score

from ocg_jax.metrics.disentanglement import (
    dci,
    disentanglement_score,
    hoyer_sparsity,
    mutual_information_gap,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, n, 2000) for n in (3, 6, 10, 8)], axis=1)
    exact = factors + 0.01 * rng.normal(size=factors.shape)  # one dimension per factor
    unit = (exact - exact.mean(0)) / exact.std(0)
    rotated = unit @ ortho_group.rvs(4, random_state=1)
    # every dimension an equal mix of all factors (a Hadamard rotation): the vote score can
    # tell nothing apart, while a random rotation may keep one leading dimension per factor
    mixed = unit @ (hadamard(4) / 2.0)
    noise = rng.normal(size=(2000, 4))
    return factors, exact, rotated, mixed, noise


def test_majority_vote_score(data):
    factors, exact, _, mixed, noise = data
    score = lambda z, **kw: disentanglement_score(
        z, factors, num_votes=800, subset_size=100, rng=np.random.default_rng(0), **kw
    )
    assert score(exact) > 0.98
    assert score(mixed) < 0.6
    assert abs(score(noise) - 0.25) < 0.12  # 4 factors: chance is about 1/4
    assert score(exact, student_t_df=9.0) > 0.98  # the t-CDF mapping keeps the order


def test_mig_against_a_direct_computation(data):
    factors, exact, rotated, _, noise = data
    assert mutual_information_gap(exact, factors) > 0.9
    assert mutual_information_gap(rotated, factors) < mutual_information_gap(exact, factors) - 0.3
    assert mutual_information_gap(noise, factors) < 0.05
    # the same number, computed directly for one factor with sklearn's mutual information
    bins = [np.digitize(c, np.histogram_bin_edges(c, 20)[1:-1]) for c in rotated.T]
    gaps = []
    for k in range(4):
        mi = sorted((mutual_info_score(factors[:, k], b) for b in bins), reverse=True)
        gaps.append((mi[0] - mi[1]) / mutual_info_score(factors[:, k], factors[:, k]))
    assert mutual_information_gap(rotated, factors) == pytest.approx(np.mean(gaps))


def test_dci(data):
    factors, exact, rotated, _, noise = data
    sub = slice(0, 600)  # gradient-boosted trees: a small set keeps the test quick
    good = dci(exact[sub], factors[sub])
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9
    assert good["informativeness"] > 0.95
    mixed = dci(rotated[sub], factors[sub])
    assert mixed["disentanglement"] < good["disentanglement"] - 0.2
    assert dci(noise[sub], factors[sub])["informativeness"] < 0.4


def test_hoyer_sparsity_and_bad_input():
    one_hot = np.eye(5)[np.arange(100) % 5]
    assert hoyer_sparsity(one_hot) == pytest.approx(1.0)
    assert hoyer_sparsity(np.ones((10, 5)) + np.eye(5)[np.arange(10) % 5] * 0) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        mutual_information_gap(np.zeros(10), np.zeros((10, 2), int))
    with pytest.raises(TypeError, match="integer"):
        disentanglement_score(np.zeros((4, 2)), np.zeros((4, 1)), rng=np.random.default_rng(0))
