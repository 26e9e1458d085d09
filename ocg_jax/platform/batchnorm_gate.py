"""BatchNorm followed by the gate ``h * sigmoid(g)``, with a hand-written gradient.

Autodiff of ``nn.BatchNorm`` and the gate made XLA:CPU run several passes over
each ``[N, H, W, 2C]`` map (the mask decoder's are 134 MB at batch 32); the VJP
here takes two: one reduction for the scale and bias gradients and one
elementwise pass for the input gradient, both recomputing the normalised map
from the conv output instead of storing it.  Same function, parameters and
batch statistics as ``nn.BatchNorm(momentum, epsilon)`` then the gate.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def _c(v: Array, ndim: int) -> Array:
    """A per-channel ``[C]`` shaped to broadcast over ``[..., C]`` (no implicit rank promotion)."""
    return v.reshape((1,) * (ndim - 1) + (-1,))


def _normalise(y, mean, rstd, scale, bias):
    n = y.ndim
    return (y - _c(mean, n)) * _c(rstd * scale, n) + _c(bias, n)


def gate(z: Array) -> Array:
    """``[..., 2C] -> [..., C]``: ``h * sigmoid(g)`` of the two halves of the last axis."""
    h, g = jnp.split(z, 2, axis=-1)
    return h * nn.sigmoid(g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def batch_norm_gate(y: Array, scale: Array, bias: Array, eps: float):
    """``y [..., 2C]`` -> ``(out [..., C], mean [2C], var [2C])`` with batch statistics over
    every axis but the last (var as ``E[y^2] - E[y]^2``, as flax computes it)."""
    return _forward(y, scale, bias, eps)[0]


def batch_norm_gate_plain(y: Array, scale: Array, bias: Array, eps: float):
    """``batch_norm_gate`` with autodiff's gradient (the plain form)."""
    return _forward(y, scale, bias, eps)[0]


def _forward(y, scale, bias, eps):
    axes = tuple(range(y.ndim - 1))
    mean = jnp.mean(y, axes)
    var = jnp.maximum(jnp.mean(jnp.square(y), axes) - jnp.square(mean), 0.0)
    rstd = jax.lax.rsqrt(var + eps)
    out = gate(_normalise(y, mean, rstd, scale, bias))
    return (out, mean, var), (y, mean, rstd, scale, bias)


def _backward(eps, res, cts):
    del eps
    y, mean, rstd, scale, bias = res
    dout, dmean, dvar = cts
    axes = tuple(range(y.ndim - 1))
    m = y.size // y.shape[-1]
    c = lambda v: _c(v, y.ndim)  # noqa: E731
    yhat = (y - c(mean)) * c(rstd)
    h, g = jnp.split(yhat * c(scale) + c(bias), 2, axis=-1)
    s = nn.sigmoid(g)
    dz = jnp.concatenate([dout * s, dout * h * s * (1 - s)], axis=-1)
    dbias = jnp.sum(dz, axes)
    dscale = jnp.sum(dz * yhat, axes)
    # BatchNorm's input gradient, plus the (usually zero) cotangents of mean and var
    dy = c(rstd * scale) * (dz - c(dbias / m) - yhat * c(dscale / m))
    dy = dy + c(dmean / m) + (2.0 / m) * c(dvar) * (y - c(mean))
    return dy, dscale, dbias


batch_norm_gate.defvjp(_forward, _backward)
