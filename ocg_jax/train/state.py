"""``TrainState``: everything a run needs to continue, as one pytree."""

import functools
from typing import Any

import jax
from flax import struct

from ocg_jax.train.sharding import replicated


@struct.dataclass
class TrainState:
    step: jax.Array  # [] int32, number of updates done
    params: Any  # the model's parameters (several networks: one top-level key each)
    model_state: Any  # non-parameter collections, e.g. {"batch_stats": ...}
    opt_state: Any  # the recipe's optimiser state(s)
    rng: jax.Array  # [2] uint32 base key; step keys are fold_in(rng, step)


@functools.cache
def _compiled_init(recipe, mesh: jax.sharding.Mesh):
    # cached: initialising runs a forward pass, whose compile can take longer than a step's
    return jax.jit(recipe.init, out_shardings=replicated(mesh))


def create_train_state(recipe, rng: jax.Array, mesh: jax.sharding.Mesh) -> TrainState:
    """``recipe.init(rng)``: parameters, optimiser state and RNG, replicated over ``mesh``."""
    # the replicated init gains nothing from partitionable threefry, whose RNG HLO took
    # XLA:CPU 20+ s to compile for MONet (6 s without)
    with jax.threefry_partitionable(False):
        return _compiled_init(recipe, mesh)(rng)


def abstract_train_state(recipe, mesh: jax.sharding.Mesh) -> TrainState:
    """Shapes, dtypes and (replicated) shardings of the state, computing nothing: a
    restore target."""
    shapes = jax.eval_shape(recipe.init, jax.random.PRNGKey(0))
    sharding = replicated(mesh)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)
