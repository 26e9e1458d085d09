"""Estimators of D(q(z), p(z)) between the aggregate posterior and the prior, on a minibatch.

q(z) = mean_i q(z | x_i) over the batch, with ``q(z | x_i) = N(loc_i, scale_i^2)``.
Both follow Mathieu et al. (2019) and its code:

* ``minibatch_kl``: KL(p(z) || q(z)) from B prior samples z_j,
  ``mean_j [log p(z_j) - log mean_i q(z_j | x_i)]`` (biased, as in the paper).
* ``imq_mmd``: the unbiased MMD^2 between B prior samples and the B posterior
  samples, with an inverse-multiquadric kernel ``C / (C + (x - y)^2)`` applied per
  dimension and summed over dimensions and the scales ``C = 2 s``,
  s in (0.1, 0.2, 0.5, 1, 2, 5).
"""

import jax
import jax.numpy as jnp
from numpyro import distributions as dist

DIVERGENCES = ("kl", "mmd")
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def minibatch_kl(
    prior: dist.Distribution, loc: jax.Array, scale: jax.Array, rng: jax.Array
) -> jax.Array:
    """Scalar KL(p(z) || q(z)) estimate; ``loc``, ``scale`` ``[B, D]``."""
    b = loc.shape[0]
    z = prior.sample(rng, (b,))  # [B(j), D]
    log_p = prior.log_prob(z)  # [B(j)]
    log_q_each = dist.Normal(loc[None], scale[None]).log_prob(z[:, None]).sum(-1)  # [j, i]
    log_q = jax.nn.logsumexp(log_q_each, axis=1) - jnp.log(b)
    return jnp.mean(log_p - log_q)


def imq_mmd(x: jax.Array, y: jax.Array, scales=IMQ_SCALES) -> jax.Array:
    """Unbiased MMD^2 between samples ``x`` and ``y`` ``[B, D]`` (B >= 2), per-dimension
    inverse-multiquadric kernels summed over dimensions and ``scales``."""
    if x.shape != y.shape or x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"imq_mmd needs two [B, D] arrays with B >= 2, got {x.shape}, {y.shape}")
    b = x.shape[0]
    d_xx = (x[:, None] - x[None]) ** 2  # [B, B, D]
    d_yy = (y[:, None] - y[None]) ** 2
    d_xy = (x[:, None] - y[None]) ** 2
    off_diagonal = 1.0 - jnp.eye(b)[..., None]
    total = 0.0
    for s in scales:
        c = 2.0 * s
        k = lambda d, c=c: c / (c + d)
        same = jnp.sum(off_diagonal * (k(d_xx) + k(d_yy))) / (b * (b - 1))
        total = total + same - 2.0 * jnp.sum(k(d_xy)) / b**2
    return total


def aggregate_divergence(
    name: str, prior: dist.Distribution, z: jax.Array, loc: jax.Array, scale: jax.Array, rng
) -> jax.Array:
    """D(q(z), p(z)) by ``name`` (``DIVERGENCES``) from the batch's posterior samples ``z``
    and parameters ``loc``, ``scale`` ``[B, D]``."""
    if name == "kl":
        return minibatch_kl(prior, loc, scale, rng)
    if name == "mmd":
        return imq_mmd(prior.sample(rng, (z.shape[0],)), z)
    raise ValueError(f"unknown divergence {name!r}; known: {list(DIVERGENCES)}")
