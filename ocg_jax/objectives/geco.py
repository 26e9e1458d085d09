"""GECO (Rezende & Viola 2018) as an optax transformation.

The Lagrange multiplier ``beta`` lives in the optimiser state.  Chain it after
the optimiser; feed the batch reconstruction error as ``recon_err=``:

    tx = optax.chain(optax.adam(1e-4), geco(goal, step_size))
    updates, opt_state = tx.update(grads, opt_state, params, recon_err=err)

Updates pass through unchanged; only the state moves.  Read beta with
``geco_beta(opt_state)`` before computing the loss of the next step.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


class GECOState(NamedTuple):
    beta: Array  # [] current Lagrange multiplier
    err_ema: Array  # [] moving average of the reconstruction error
    count: Array  # [] int32, number of updates so far


def geco(
    goal: float,
    step_size: float,
    *,
    alpha: float = 0.99,
    speedup: float = 10.0,
    beta_init: float = 1.0,
    beta_min: float = 1e-10,
    beta_max: float = 1e10,
) -> optax.GradientTransformationExtraArgs:
    """GECO as GENESIS uses it.

    ``err_ema <- alpha * err_ema + (1 - alpha) * err`` (initialised with the first
    err); ``C = goal - err_ema``; ``beta <- clip(beta * exp(step_size * s * C))``
    with ``s = speedup`` when ``C > 0`` else 1.
    """

    def init_fn(params):
        del params
        return GECOState(
            beta=jnp.asarray(beta_init, jnp.float32),
            err_ema=jnp.asarray(0.0, jnp.float32),
            count=jnp.asarray(0, jnp.int32),
        )

    def update_fn(updates, state, params=None, *, recon_err, **extra_args):
        del params, extra_args
        err = jnp.asarray(recon_err, jnp.float32)
        ema = jnp.where(state.count == 0, err, alpha * state.err_ema + (1.0 - alpha) * err)
        constraint = goal - ema
        scale = jnp.where(constraint > 0, speedup, 1.0)
        beta = jnp.clip(state.beta * jnp.exp(step_size * scale * constraint), beta_min, beta_max)
        return updates, GECOState(beta=beta, err_ema=ema, count=state.count + 1)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def find_geco_state(opt_state) -> GECOState | None:
    """The ``GECOState`` inside a (chained) optax state, or None."""
    if isinstance(opt_state, GECOState):
        return opt_state
    if isinstance(opt_state, tuple | list):
        for sub in opt_state:
            found = find_geco_state(sub)
            if found is not None:
                return found
    return None


def geco_beta(opt_state, default: float) -> Array:
    """Current beta from ``opt_state``; ``default`` when there is no GECO (fixed beta)."""
    state = find_geco_state(opt_state)
    return jnp.asarray(default, jnp.float32) if state is None else state.beta
