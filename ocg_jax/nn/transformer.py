"""A spatial transformer for scale-and-shift windows (AIR's ``z_where``).

One convention for reading and writing.  Coordinates are normalised to [-1, 1]
across an image, pixel centres at ``(2 i + 1) / n - 1`` (PyTorch's
``align_corners=False``).  ``z_where = (s, x, y)`` maps image coordinates ``u``
to window coordinates ``s * u + (x, y)``: the window covers ``1/s`` of the image,
centred at ``-(x, y) / s``.  Writing samples the window at ``s * u + (x, y)`` for
every image pixel; reading (a glimpse) samples the image at ``(v - (x, y)) / s``
for every window pixel.  Both are bilinear with zeros outside, the values of
``jax.scipy.ndimage.map_coordinates(order=1, mode="constant")`` (the tests compare);
as the transform has no rotation, the sampling is separable and computed as two
small matrix products per image (``R_rows @ window @ R_cols^T``, ``R`` the
bilinear hat weights): no gathers or scatters, faster than ``map_coordinates``
(``docs/air.md``) and suited to accelerators.  ``|s|`` is kept above
``MIN_SCALE`` so the inverse never divides by zero.
"""

import jax
import jax.numpy as jnp

Array = jax.Array
MIN_SCALE = 1e-2


def safe_scale(s: Array) -> Array:
    """``s`` with ``|s| >= MIN_SCALE`` (sign kept; 0 -> MIN_SCALE)."""
    return jnp.where(s >= 0, jnp.maximum(s, MIN_SCALE), jnp.minimum(s, -MIN_SCALE))


def _centres(n: int) -> Array:
    return (2 * jnp.arange(n, dtype=jnp.float32) + 1) / n - 1


def _weights(coords: Array, n: int) -> Array:
    """Bilinear weights ``[len(coords), n]`` of normalised ``coords`` on ``n`` pixel centres
    (rows outside the pixels' span are 0: zero padding)."""
    pos = ((coords + 1) * n - 1) / 2  # in pixel units
    return jnp.maximum(0.0, 1.0 - jnp.abs(pos[:, None] - jnp.arange(n, dtype=jnp.float32)[None]))


def _resample(image: Array, rows: Array, cols: Array) -> Array:
    """``image [H, W]`` sampled at the grid ``rows [h] x cols [w]`` (normalised) -> ``[h, w]``."""
    h, w = image.shape
    return _weights(rows, h) @ image @ _weights(cols, w).T


def _write_one(window: Array, where: Array, size: int) -> Array:
    s, x, y = safe_scale(where[0]), where[1], where[2]
    u = _centres(size)
    return _resample(window, s * u + y, s * u + x)


def _read_one(image: Array, where: Array, size: int) -> Array:
    s, x, y = safe_scale(where[0]), where[1], where[2]
    v = _centres(size)
    return _resample(image, (v - y) / s, (v - x) / s)


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
