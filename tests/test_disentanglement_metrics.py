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
    factor_vae_score,
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


def test_the_original_protocol_loses_exactly_the_votes_of_a_constant_factor(data):
    """As the original's code: the fixed factor is drawn over all factors, a constant one
    too (its votes land on whatever dimension; each dimension's majority stays its own
    factor), so the score of exact codes is 1 minus the share of votes drawn for it."""
    factors, exact, *_ = data
    with_constant = np.concatenate([factors, np.zeros((len(factors), 1), int)], axis=1)
    m = 2_000
    score = disentanglement_score(exact, with_constant, num_votes=m, subset_size=100,
                                  rng=np.random.default_rng(3))  # fmt: skip
    drawn = np.random.default_rng(3).integers(0, 5, m)  # the same generator's first draws
    assert score == pytest.approx(1 - np.mean(drawn == 4))
    small = disentanglement_score(exact, factors, num_votes=200, subset_size=10_000,
                                  rng=np.random.default_rng(0))  # fmt: skip
    assert small == 1.0  # fewer codes than subset_size: all of them, without replacement


def test_factor_vae_score_as_disentanglement_lib(data):
    factors, exact, _, _, noise = data
    rng = lambda: np.random.default_rng(0)
    good = factor_vae_score(exact, factors, rng=rng(), num_train=500, num_eval=300)
    assert good == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "active_dimensions": 4}
    collapsed = np.concatenate([exact, np.full((len(exact), 1), 0.3)], axis=1)
    pruned = factor_vae_score(collapsed, factors, rng=rng(), num_train=500, num_eval=300)
    assert pruned["active_dimensions"] == 4 and pruned["eval_accuracy"] == 1.0
    chance = factor_vae_score(noise, factors, rng=rng(), num_train=500, num_eval=500)
    assert chance["eval_accuracy"] < 0.45  # about 1 / 4 (the classifier fits noise votes)
    flat = factor_vae_score(np.zeros((100, 3)), factors[:100], rng=rng())
    assert flat == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dimensions": 0}
    # a small set where some values are held by one code: those cannot vote (no variance)
    few = np.concatenate([factors[:40], np.arange(40)[:, None] % 21], axis=1)  # 19 singletons
    small = factor_vae_score(np.concatenate([exact[:40], noise[:40, :1]], axis=1), few,
                             rng=rng(), num_train=300, num_eval=300)  # fmt: skip
    assert small["eval_accuracy"] > 0.7  # exact codes still win their factors' votes
    with pytest.raises(ValueError, match="shared by two codes"):
        factor_vae_score(noise[:5], np.arange(5)[:, None], rng=rng())


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


def test_factor_scores_as_evaluate_reports_them_and_their_chance(data):
    """``evaluate``'s bundle gives each score as its own function does with the same seed,
    and codes that carry no factor (its ``chance`` block) score clearly below exact ones."""
    from ocg_jax.analysis.disentangling import CHANCE_KEYS, factor_scores

    factors, exact, _, _, noise = data
    kw = {"factors": factors, "num_votes": 400, "dci_images": 1000, "seed": 5}
    good, chance = factor_scores(exact, **kw), factor_scores(noise, **kw)
    assert good["votes_subset_size"] == 100  # n // 20 points a vote below 20,000 codes
    direct = disentanglement_score(exact, factors, num_votes=400, subset_size=100,
                                   rng=np.random.default_rng(5))  # fmt: skip
    assert good["disentanglement_score"] == direct
    assert good["mig"] == mutual_information_gap(exact, factors)
    assert good["dci_disentanglement"] == dci(exact[:1000], factors[:1000], seed=5)[
        "disentanglement"]  # fmt: skip
    for key in CHANCE_KEYS:
        assert good[key] > chance[key] + 0.3, (key, good[key], chance[key])
    assert chance["mig"] < 0.05 and abs(chance["disentanglement_score"] - 0.25) < 0.12
