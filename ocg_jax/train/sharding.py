"""The 1-D ``('data',)`` mesh: state replicated, batches split on their first axis."""

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A mesh with one axis ``'data'`` over ``devices`` (default: all devices)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def shard_batch(tree, mesh: Mesh):
    """Split host arrays of ``tree`` over ``mesh`` along their first axis (single process)."""
    return jax.device_put(tree, batch_sharding(mesh))
