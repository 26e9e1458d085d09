"""KL terms between diagonal Gaussians."""

import jax
import jax.numpy as jnp
from numpyro import distributions as dist
from numpyro.distributions.kl import kl_divergence

Array = jax.Array


def gaussian_log_prob(x: Array, mean: Array, std: Array) -> Array:
    """Elementwise ``log N(x | mean, std^2)``; shapes broadcast (numpyro's, ranks too)."""
    with jax.numpy_rank_promotion("allow"):
        return dist.Normal(mean, std).log_prob(x)


def mc_kl(z: Array, q_mean: Array, q_std: Array, p_mean: Array, p_std: Array) -> Array:
    """One-sample Monte-Carlo ``log q(z) - log p(z)``, elementwise (sum it yourself)."""
    return gaussian_log_prob(z, q_mean, q_std) - gaussian_log_prob(z, p_mean, p_std)


def analytic_kl_std_normal(mean: Array, std: Array) -> Array:
    """Elementwise ``KL(N(mean, std^2) || N(0, 1))``."""
    return 0.5 * (mean**2 + std**2 - 1.0) - jnp.log(std)


def gaussian_kl(q_mean: Array, q_std: Array, p_mean: Array, p_std: Array) -> Array:
    """Elementwise ``KL(N(q_mean, q_std^2) || N(p_mean, p_std^2))``; shapes broadcast."""
    with jax.numpy_rank_promotion("allow"):
        return kl_divergence(dist.Normal(q_mean, q_std), dist.Normal(p_mean, p_std))
