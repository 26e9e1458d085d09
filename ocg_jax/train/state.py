"""``TrainState``: everything a run needs to continue, as one pytree."""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from ocg_jax.models.base import ModelFamily
from ocg_jax.train.sharding import replicated


@struct.dataclass
class TrainState:
    step: jax.Array  # [] int32, number of updates done
    params: Any
    model_state: Any  # non-parameter collections, e.g. {"batch_stats": ...}
    opt_state: Any
    rng: jax.Array  # [2] uint32 base key; step keys are fold_in(rng, step)


def _init_fn(model: ModelFamily, tx: optax.GradientTransformation):
    def init(rng):
        init_rng, state_rng = jax.random.split(rng)
        images = jnp.zeros((1, *model.image_shape), jnp.float32)
        variables = dict(model.init(init_rng, images))
        params = variables.pop("params")
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state=variables,
            opt_state=tx.init(params),
            rng=state_rng,
        )

    return init


@functools.cache
def _compiled_init(model: ModelFamily, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh):
    # cached: initialising runs a forward pass, whose compile can take longer than a step's
    return jax.jit(_init_fn(model, tx), out_shardings=replicated(mesh))


def create_train_state(
    model: ModelFamily, tx: optax.GradientTransformation, rng: jax.Array, mesh: jax.sharding.Mesh
) -> TrainState:
    """Initialise parameters, optimiser state and RNG, replicated over ``mesh``."""
    # the replicated init gains nothing from partitionable threefry, whose RNG HLO took
    # XLA:CPU 20+ s to compile for MONet (6 s without)
    with jax.threefry_partitionable(False):
        return _compiled_init(model, tx, mesh)(rng)


def abstract_train_state(
    model: ModelFamily, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh
) -> TrainState:
    """Shapes, dtypes and (replicated) shardings of the state, computing nothing: a
    restore target."""
    shapes = jax.eval_shape(_init_fn(model, tx), jax.random.PRNGKey(0))
    sharding = replicated(mesh)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)
