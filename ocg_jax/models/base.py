"""The model contract shared by every family, and input checks.

A family exposes pure functions (see ``ModelFamily``).  ``apply`` returns the
family's ``Outputs`` and the updated model state (batch-norm statistics; the
input state unchanged when ``train=False``).
"""

import dataclasses
import functools
from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Variables = dict[str, Any]


class ModelFamily(Protocol):
    """What ``ocg_jax.train`` knows of a model."""

    name: str
    image_shape: tuple[int, int, int]  # (H, W, C)
    #: names of the per-example loss terms in ``outputs.losses`` that are KLs
    kl_terms: tuple[str, ...]

    def init(self, rng: Array, batch: Array) -> Variables: ...

    def apply(
        self, variables: Variables, images: Array, rng: Array, *, train: bool
    ) -> tuple[Any, Variables]: ...

    def sample(self, variables: Variables, rng: Array, num: int) -> Any: ...

    def features(self, outputs: Any) -> Array: ...


def check_images(images, image_shape: tuple[int, int, int]) -> None:
    """Raise a clear error unless ``images`` is float ``[B, H, W, C]`` in [0, 1].

    The value range is checked only on concrete arrays (not under ``jit``).
    """
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1:] != tuple(image_shape):
        raise ValueError(
            f"images must have shape [B, {', '.join(map(str, image_shape))}] for this model, "
            f"got {list(shape)}"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(
            f"images must be floating point in [0, 1], got dtype {images.dtype}; "
            "convert uint8 images with ocg_jax.data.pipeline.to_float"
        )
    if isinstance(images, jax.core.Tracer):
        return
    lo, hi = float(np.min(images)), float(np.max(images))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"image values must lie in [0, 1], got range [{lo:.3g}, {hi:.3g}]")


@dataclasses.dataclass(frozen=True)
class LinenFamily:
    """The contract for a family whose network is one Linen module ``net``.

    ``net.__call__(images, train=...)`` gives the outputs (randomness from the
    ``"sample"`` rng stream); ``net.sample(num)`` draws from the prior.  A
    subclass adds ``kl_terms`` and ``features``.
    """

    net: nn.Module
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.net.image_size, self.net.image_size, 3)

    def init(self, rng: Array, batch: Array) -> Variables:
        check_images(batch, self.image_shape)
        p_rng, s_rng = jax.random.split(rng)
        return self.net.init({"params": p_rng, "sample": s_rng}, batch, train=False)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        check_images(images, self.image_shape)
        state = {k: v for k, v in variables.items() if k != "params"}
        if not train or "batch_stats" not in variables:
            out = self.net.apply(variables, images, train=train, rngs={"sample": rng})
            return out, state
        out, new_state = self.net.apply(
            variables, images, train=True, rngs={"sample": rng}, mutable=["batch_stats"]
        )
        return out, {**state, **new_state}

    def sample(self, variables: Variables, rng: Array, num: int) -> Any:
        return self.net.apply(variables, num, rngs={"sample": rng}, method=type(self.net).sample)


@functools.cache
def eval_apply_fn(model: ModelFamily):
    """Jitted ``(variables, images float, rng) -> outputs`` in eval mode; one per model, so
    evaluation and pictures of the same batch shape compile once."""
    return jax.jit(
        lambda variables, images, rng: model.apply(variables, images, rng, train=False)[0]
    )


@functools.cache
def sample_fn(model: ModelFamily):
    """Jitted ``(variables, rng, num) -> outputs`` from the prior; one per model."""
    return jax.jit(model.sample, static_argnums=2)
