import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from ocg_jax.objectives.geco import geco, geco_beta
from ocg_jax.objectives.kl import analytic_kl_std_normal, mc_kl
from ocg_jax.objectives.mixture import mixture_nll, stick_breaking


def test_stick_breaking_sums_to_one_and_matches_direct_form():
    logits = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 3, 3, 1)) * 3
    log_m = stick_breaking(logits)
    assert log_m.shape == (5, 2, 3, 3, 1)
    np.testing.assert_allclose(jnp.exp(log_m).sum(0), 1.0, atol=1e-6)
    a = 1 / (1 + np.exp(-np.asarray(logits)))
    scope, direct = np.ones(a.shape[1:]), []
    for k in range(4):
        direct.append(scope * a[k])
        scope = scope * (1 - a[k])
    direct.append(scope)
    np.testing.assert_allclose(np.exp(log_m), np.stack(direct), atol=1e-6)


def test_mixture_nll_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 3, 3, 3)).astype(np.float32)
    means = rng.uniform(size=(2, 4, 3, 3, 3)).astype(np.float32)
    logits = rng.normal(size=(2, 4, 3, 3, 1))
    log_m = logits - logsumexp(logits, axis=1, keepdims=True)
    sigma = np.array([0.09, 0.11, 0.11, 0.11], np.float32)
    got = mixture_nll(x, jnp.asarray(log_m, jnp.float32), means, sigma)
    logn = norm.logpdf(x[:, None], means, sigma[None, :, None, None, None])
    want = -logsumexp(log_m + logn, axis=1).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_kl_estimators():
    mean, std = jnp.array([0.3, -1.0]), jnp.array([0.5, 2.0])
    z = mean[None] + std[None] * jax.random.normal(jax.random.PRNGKey(0), (200_000, 2))
    mc = mc_kl(z, mean, std, jnp.zeros(2), jnp.ones(2)).mean(0)
    np.testing.assert_allclose(mc, analytic_kl_std_normal(mean, std), rtol=0.02)


def test_geco_updates_beta_in_opt_state():
    goal, eta = 100.0, 1e-3
    tx = optax.chain(optax.adam(1e-3), geco(goal, eta))
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert float(geco_beta(state, 0.5)) == 1.0
    grads = {"w": jnp.full(3, 0.1)}
    beta, ema = 1.0, None
    for err in (80.0, 90.0, 150.0, 400.0):
        updates, state = tx.update(grads, state, params, recon_err=jnp.asarray(err))
        ema = err if ema is None else 0.99 * ema + 0.01 * err
        c = goal - ema
        beta = float(np.clip(beta * np.exp(eta * (10.0 if c > 0 else 1.0) * c), 1e-10, 1e10))
        np.testing.assert_allclose(float(geco_beta(state, 0.5)), beta, rtol=1e-5)
    # the Adam updates pass through unchanged
    ref = optax.adam(1e-3)
    u_ref, _ = ref.update(grads, ref.init(params), params)
    u, _ = tx.update(grads, tx.init(params), params, recon_err=jnp.asarray(1.0))
    np.testing.assert_allclose(u["w"], u_ref["w"])
    assert float(geco_beta(optax.adam(1e-3).init(params), 0.5)) == 0.5


def test_geco_requires_recon_err():
    tx = optax.chain(optax.adam(1e-3), geco(1.0, 1e-3))
    params = {"w": jnp.ones(3)}
    with pytest.raises(TypeError):
        tx.update(params, tx.init(params), params)
