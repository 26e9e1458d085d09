"""The model contract shared by every family, and input checks.

A family exposes pure functions (see ``ModelFamily``).  ``apply`` returns the
family's ``Outputs`` and the updated model state (batch-norm statistics; the
input state unchanged when ``train=False``).
"""

import dataclasses
import functools
from typing import Any, ClassVar, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ocg_jax.nn import layers

Array = jax.Array
Variables = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a family reads: float images ``[B, *shape]`` with values in ``[low, high]``,
    made from the datasets' uint8 ``[0, 255]`` by ``preprocess``."""

    shape: tuple[int, int, int]  # (H, W, C)
    low: float = 0.0
    high: float = 1.0
    field: ClassVar[str] = "image"  # the dataset field it reads

    def check_stored(self, images) -> None:
        """Clear errors for a dataset batch that does not fit (dtype, rank, size)."""
        if images.dtype != np.uint8:
            raise TypeError(f"dataset images must be uint8 in [0, 255], got {images.dtype}")
        if tuple(images.shape[1:]) != tuple(self.shape):
            raise ValueError(
                f"dataset images have shape {tuple(images.shape[1:])} but the model expects "
                f"{tuple(self.shape)}; set config.model.image_size (and the dataset config) "
                "to match"
            )

    def preprocess(self, images: Array) -> Array:
        """uint8 ``[B, H, W, C]`` in [0, 255] -> float32 in ``[low, high]``."""
        if images.dtype != jnp.uint8:
            raise TypeError(f"expected uint8 images in [0, 255], got dtype {images.dtype}")
        return self.low + images.astype(jnp.float32) * ((self.high - self.low) / 255.0)

    def to_unit(self, x) -> np.ndarray:
        """Model-space images -> float ``[..., H, W, 3]`` in [0, 1] for pictures (one channel
        repeated to three)."""
        x = (np.asarray(x, np.float32) - self.low) / (self.high - self.low)
        return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x

    def check(self, images) -> None:
        """Raise a clear error unless ``images`` is float ``[B, H, W, C]`` in ``[low, high]``
        (the range only on concrete arrays, not under ``jit``)."""
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[1:] != tuple(self.shape):
            raise ValueError(
                f"images must have shape [B, {', '.join(map(str, self.shape))}] for this model, "
                f"got {list(shape)}"
            )
        if not jnp.issubdtype(images.dtype, jnp.floating):
            raise TypeError(
                f"images must be floating point in [{self.low:g}, {self.high:g}], got dtype "
                f"{images.dtype}; convert uint8 images with model.input_spec.preprocess"
            )
        if isinstance(images, jax.core.Tracer):
            return
        lo, hi = float(np.min(images)), float(np.max(images))
        if lo < self.low or hi > self.high:
            raise ValueError(
                f"image values must lie in [{self.low:g}, {self.high:g}], "
                f"got range [{lo:.3g}, {hi:.3g}]"
            )


@dataclasses.dataclass(frozen=True)
class PointSpec:
    """What a family of vectors reads (pinwheel): float ``[B, *shape]`` from the dataset's
    ``point`` field, used as stored."""

    shape: tuple[int, ...]
    low: float = 0.0  # the value of the zero input that initialises a model
    field: ClassVar[str] = "point"

    def preprocess(self, points: Array) -> Array:
        if not jnp.issubdtype(points.dtype, jnp.floating):
            raise TypeError(f"expected floating-point points, got dtype {points.dtype}")
        return points.astype(jnp.float32)

    def check_stored(self, points) -> None:
        if not np.issubdtype(points.dtype, np.floating):
            raise TypeError(f"dataset points must be floating point, got {points.dtype}")
        if tuple(points.shape[1:]) != tuple(self.shape):
            raise ValueError(
                f"dataset points have shape {tuple(points.shape[1:])} but the model expects "
                f"{tuple(self.shape)}; set config.model.point_dim to match"
            )

    def check(self, points) -> None:
        shape = tuple(points.shape)
        if len(shape) != 1 + len(self.shape) or shape[1:] != tuple(self.shape):
            raise ValueError(
                f"points must have shape [B, {', '.join(map(str, self.shape))}], got {list(shape)}"
            )
        if not jnp.issubdtype(points.dtype, jnp.floating):
            raise TypeError(f"points must be floating point, got dtype {points.dtype}")


class ModelFamily(Protocol):
    """What ``ocg_jax.train`` knows of a model."""

    name: str
    input_spec: InputSpec
    #: names of the per-example loss terms in ``outputs.losses`` that are KLs
    kl_terms: tuple[str, ...]
    #: the recipe it trains with unless the config names one (``ocg_jax.train.recipes``)
    recipe: str

    def init(self, rng: Array, batch: Array) -> Variables: ...

    def apply(
        self, variables: Variables, images: Array, rng: Array, *, train: bool
    ) -> tuple[Any, Variables]: ...

    def sample(self, variables: Variables, rng: Array, num: int) -> Any: ...

    def features(self, outputs: Any, *, sample: bool = True) -> Array: ...


def check_images(images, image_shape: tuple[int, int, int]) -> None:
    """``InputSpec(image_shape).check(images)``: float images in [0, 1]."""
    InputSpec(tuple(image_shape)).check(images)


@dataclasses.dataclass(frozen=True)
class LinenFamily:
    """The contract for a family whose network is one Linen module ``net``.

    ``net.__call__(images, train=...)`` gives the outputs (randomness from the
    ``"sample"`` rng stream); ``net.sample(num)`` draws from the prior.  A
    subclass adds ``kl_terms`` and ``features``.
    """

    net: nn.Module
    name: str

    recipe = "elbo"

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, 3))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.input_spec.shape

    def _dtype(self):
        """Mixed precision: convs and dense layers in the net's ``compute_dtype``."""
        return layers.computing_in(getattr(self.net, "compute_dtype", "float32"))

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        p_rng, s_rng = jax.random.split(rng)
        with self._dtype():
            return self.net.init({"params": p_rng, "sample": s_rng}, batch, train=False)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        self.input_spec.check(images)
        state = {k: v for k, v in variables.items() if k != "params"}
        with self._dtype():
            if not train or "batch_stats" not in variables:
                out = self.net.apply(variables, images, train=train, rngs={"sample": rng})
                return out, state
            out, new_state = self.net.apply(
                variables, images, train=True, rngs={"sample": rng}, mutable=["batch_stats"]
            )
        return out, {**state, **new_state}

    def sample(self, variables: Variables, rng: Array, num: int) -> Any:
        with self._dtype():
            method = type(self.net).sample
            return self.net.apply(variables, num, rngs={"sample": rng}, method=method)


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
