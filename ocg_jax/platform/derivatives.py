"""Elementwise ops with derivatives XLA:CPU runs faster than autodiff's."""

import functools

import jax
import jax.numpy as jnp

Array = jax.Array


@jax.custom_jvp
def elu(x: Array) -> Array:
    """ELU, ``x`` if ``x > 0`` else ``exp(x) - 1``.

    ``exp(x) - 1`` instead of ``expm1`` (XLA:CPU's expm1 is slower; the two differ by
    at most 1.2e-7), and the derivative is taken from the output (``1`` if ``y > 0``
    else ``y + 1``), so the backward pass keeps only ``y``, which the next layer
    saves anyway (``docs/performance.md``, round 5).
    """
    return jnp.where(x > 0, x, jnp.exp(jnp.minimum(x, 0.0)) - 1)


@elu.defjvp
def _elu_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = elu(x)
    return y, t * jnp.where(y > 0, 1.0, y + 1.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def tile_items(c: Array, n: int) -> Array:
    """``[...] -> [n, ...]``, ``c`` repeated ``n`` times, like ``jnp.broadcast_to``; its
    gradient (the sum over the copies) is a matmul with a ones vector, which XLA:CPU runs
    about 50x faster than the reduction over the leading axis."""
    return jnp.broadcast_to(c, (n, *c.shape))


def _tile_fwd(c, n):
    return tile_items(c, n), None


def _tile_bwd(n, _, g):
    return ((jnp.ones((n,), g.dtype) @ g.reshape(n, -1)).reshape(g.shape[1:]),)


tile_items.defvjp(_tile_fwd, _tile_bwd)
