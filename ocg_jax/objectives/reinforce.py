"""Score-function (REINFORCE) gradients for discrete latents, with learned baselines.

For a discrete latent sampled at step t with log-probability ``log q_t`` and a
cost ``c_t`` (the part of the negative ELBO the sample can still affect), the
surrogate ``stop_gradient(c_t - b_t) * log q_t`` has the score-function gradient
``E[(c_t - b_t) grad log q_t]``, unbiased for any baseline ``b_t`` that does not
depend on the sample; a good ``b_t`` (trained by squared error on ``c_t``) lowers
its variance.  NVIL (Mnih & Gregor 2014) also divides the centred signal by a
running estimate of its standard deviation.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array


@struct.dataclass
class ScoreTerms:
    """What a family returns for its discrete latents; each ``[B, T]`` (T steps)."""

    log_prob: Array  # log q of the sampled values (differentiable in the inference net)
    signal: Array  # cost the step's sample can still affect (no gradient needed)
    baseline: Array  # the learned baseline's prediction, from detached inputs
    mask: Array  # 1 where the step's latent was sampled and counts, else 0


class SignalStats(NamedTuple):
    """Running mean and variance of the centred learning signal (NVIL)."""

    mean: Array  # []
    var: Array  # []
    count: Array  # [] int32


def init_signal_stats() -> SignalStats:
    return SignalStats(
        jnp.zeros((), jnp.float32), jnp.ones((), jnp.float32), jnp.zeros((), jnp.int32)
    )


def normalise_signal(
    centred: Array, mask: Array, stats: SignalStats, decay: float
) -> tuple[Array, SignalStats]:
    """``(centred - mean) / max(1, std)`` with the running ``mean``, ``std`` updated from
    this batch's masked entries first (NVIL's normalisation); ``[B, T]``."""
    n = jnp.maximum(jnp.sum(mask), 1.0)
    batch_mean = jnp.sum(centred * mask) / n
    batch_var = jnp.sum(jnp.square(centred - batch_mean) * mask) / n
    first = stats.count == 0
    mean = jnp.where(first, batch_mean, decay * stats.mean + (1 - decay) * batch_mean)
    var = jnp.where(first, batch_var, decay * stats.var + (1 - decay) * batch_var)
    out = (centred - mean) / jnp.maximum(1.0, jnp.sqrt(var))
    return out, SignalStats(mean, var, stats.count + 1)


def surrogate(log_prob: Array, weight: Array, mask: Array) -> Array:
    """``[B]``: ``sum_t mask * stop_gradient(weight) * log_prob``; its gradient is the
    score-function estimate weighted by ``weight`` (the centred learning signal)."""
    return jnp.sum(mask * jax.lax.stop_gradient(weight) * log_prob, axis=-1)


def baseline_loss(terms: ScoreTerms) -> Array:
    """``[B]``: the baseline's squared error on the (detached) signal, masked."""
    err = jax.lax.stop_gradient(terms.signal) - terms.baseline
    return jnp.sum(terms.mask * jnp.square(err), axis=-1)
