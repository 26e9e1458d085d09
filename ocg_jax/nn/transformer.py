"""A spatial transformer for scale-and-shift windows (AIR's ``z_where``).

One convention for reading and writing.  Coordinates are normalised to [-1, 1]
across an image, pixel centres at ``(2 i + 1) / n - 1`` (PyTorch's
``align_corners=False``).  ``z_where = (s, x, y)`` maps image coordinates ``u``
to window coordinates ``s * u + (x, y)``: the window covers ``1/s`` of the image,
centred at ``-(x, y) / s``.  Writing samples the window at ``s * u + (x, y)`` for
every image pixel; reading (a glimpse) samples the image at ``(v - (x, y)) / s``
for every window pixel.  Both are bilinear with zeros outside
(``jax.scipy.ndimage.map_coordinates``).  ``|s|`` is kept above ``MIN_SCALE`` so
the inverse never divides by zero.
"""

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

Array = jax.Array
MIN_SCALE = 1e-2


def safe_scale(s: Array) -> Array:
    """``s`` with ``|s| >= MIN_SCALE`` (sign kept; 0 -> MIN_SCALE)."""
    return jnp.where(s >= 0, jnp.maximum(s, MIN_SCALE), jnp.minimum(s, -MIN_SCALE))


def _centres(n: int) -> Array:
    return (2 * jnp.arange(n, dtype=jnp.float32) + 1) / n - 1


def _sample(image: Array, rows: Array, cols: Array) -> Array:
    """``image [H, W]`` at normalised ``rows``, ``cols`` (same shape) -> values."""
    h, w = image.shape
    i = ((rows + 1) * h - 1) / 2
    j = ((cols + 1) * w - 1) / 2
    return map_coordinates(image, [i, j], order=1, mode="constant", cval=0.0)


def _write_one(window: Array, where: Array, size: int) -> Array:
    s, x, y = safe_scale(where[0]), where[1], where[2]
    u = _centres(size)
    rows, cols = jnp.meshgrid(s * u + y, s * u + x, indexing="ij")
    return _sample(window, rows, cols)


def _read_one(image: Array, where: Array, size: int) -> Array:
    s, x, y = safe_scale(where[0]), where[1], where[2]
    v = _centres(size)
    rows, cols = jnp.meshgrid((v - y) / s, (v - x) / s, indexing="ij")
    return _sample(image, rows, cols)


def write_window(windows: Array, where: Array, image_size: int) -> Array:
    """``windows [B, A, A]`` placed by ``where [B, 3]`` -> ``[B, S, S]`` (zeros outside)."""
    return jax.vmap(_write_one, in_axes=(0, 0, None))(windows, where, image_size)


def read_glimpse(images: Array, where: Array, window_size: int) -> Array:
    """``images [B, S, S]`` read through ``where [B, 3]`` -> glimpses ``[B, A, A]``."""
    return jax.vmap(_read_one, in_axes=(0, 0, None))(images, where, window_size)


def window_box(where, image_size: int):
    """Pixel box ``(y0, x0, y1, x1)`` (edges) that ``where [..., 3]`` covers; numpy or jax."""
    s = jnp.abs(safe_scale(where[..., 0]))
    x, y = where[..., 1], where[..., 2]
    half = image_size / 2
    to_px = lambda centre, sign: (centre + sign / s + 1) * half
    return jnp.stack(
        [to_px(-y / s, -1), to_px(-x / s, -1), to_px(-y / s, 1), to_px(-x / s, 1)], axis=-1
    )


def box_where(box, image_size: int):
    """The ``where [..., 3]`` whose window covers pixel box ``(y0, x0, y1, x1)`` (square
    windows: the scale from the box's larger side)."""
    box = jnp.asarray(box, jnp.float32)
    side = jnp.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])
    s = image_size / side
    cy = (box[..., 0] + box[..., 2]) / image_size - 1  # normalised centre
    cx = (box[..., 1] + box[..., 3]) / image_size - 1
    return jnp.stack([s, -cx * s, -cy * s], axis=-1)
