"""What a family reads: its input's shape, range and dataset field, and the conversion from
the datasets' stored form.  Below every other part of the package (data and models both
use it)."""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


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
