"""Spatial Gaussian-mixture likelihood and stick-breaking masks."""

import jax
import jax.numpy as jnp

Array = jax.Array


def stick_breaking(logits: Array) -> Array:
    """Log masks from K-1 stick-breaking logits, in log space.

    Args:
      logits: ``[K-1, ...]`` logits ``a_k`` for the first K-1 masks.
    Returns:
      ``[K, ...]`` log masks with ``log m_k = log s_{k-1} + log_sigmoid(a_k)``,
      ``log s_k = log s_{k-1} + log_sigmoid(-a_k)`` and the last mask the
      remaining scope ``s_{K-1}``; the masks sum to one.
    """
    log_keep = jax.nn.log_sigmoid(logits)
    log_pass = jax.nn.log_sigmoid(-logits)
    # log scope before step k: exclusive cumulative sum of log_pass
    log_scope = jnp.cumsum(log_pass, axis=0) - log_pass
    last = jnp.sum(log_pass, axis=0, keepdims=True)
    return jnp.concatenate([log_scope + log_keep, last], axis=0)


def mixture_nll(x: Array, log_masks: Array, means: Array, sigma: float | Array) -> Array:
    """``-sum_{h,w,c} log sum_k m_k N(x | mean_k, sigma_k^2)``, one value per image.

    Args:
      x: ``[B, H, W, C]`` images.
      log_masks: ``[B, K, H, W, 1]``.
      means: ``[B, K, H, W, C]`` component appearances.
      sigma: scalar or ``[K]`` per-component standard deviation.
    Returns:
      ``[B]``.  Uses logsumexp over k (the original sums exp directly).
    """
    sigma = jnp.asarray(sigma, x.dtype)
    if sigma.ndim == 1:
        sigma = sigma[None, :, None, None, None]
    log_n = -0.5 * ((x[:, None] - means) / sigma) ** 2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi)
    log_px = jax.nn.logsumexp(log_masks + log_n, axis=1)  # [B, H, W, C]
    return -jnp.sum(log_px, axis=(1, 2, 3))
