"""Foreground / background scenes for unsupervised segmentation (ReDO), procedural.

``fg_bg_scene``: one object on a background, each with its own colour and
texture, and the ground-truth foreground mask.  The object is a large dSprites
shape or a smooth random blob; textures are smooth noise, stripes or checks
at random frequency and angle, so neither region is flat.  ``digits_scene`` is
the ReDO authors' synthetic check (their coloured MNIST): one dark even digit and one
bright odd digit on a background of random colour (3 regions).  Everything is numpy,
deterministic given a ``numpy.random.Generator``.
"""

import numpy as np
from scipy import ndimage

from ocg_jax.data.digits import Digits
from ocg_jax.data.render import SHAPES, shape_mask

TEXTURES = ("noise", "stripes", "checks")


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """``[size, size]`` in [-1, 1]: smooth noise, stripes or checks."""
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    if kind == "noise":
        t = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / rng.uniform(8, 24))
        return t / (np.abs(t).max() + 1e-8)
    yy, xx = np.mgrid[:size, :size] / size
    angle, freq = rng.uniform(0, np.pi), rng.uniform(4, 12)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    if kind == "stripes":
        return np.sin(2 * np.pi * freq * u)
    v = -np.sin(angle) * xx + np.cos(angle) * yy
    return np.sign(np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v))


def _region(rng: np.random.Generator, size: int, avoid: np.ndarray | None = None) -> np.ndarray:
    """``[size, size, 3]`` float in [0, 1]: a random colour (far from ``avoid``) modulated
    by a texture of random contrast."""
    while True:
        colour = rng.uniform(0.1, 0.9, size=3)
        if avoid is None or np.abs(colour - avoid).sum() > 0.6:
            break
    contrast = rng.uniform(0.05, 0.15)
    return np.clip(colour + contrast * _texture(rng, size)[..., None], 0.0, 1.0)


def blob_mask(rng: np.random.Generator, size: int, area: tuple[float, float]) -> np.ndarray:
    """A smooth random blob around a point near the centre covering about ``area`` (a
    fraction range) of the image: a radial envelope plus smooth noise, thresholded."""
    yy, xx = (np.mgrid[:size, :size] + 0.5) / size
    cy, cx = rng.uniform(0.35, 0.65, size=2)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 10)
    field = -r + 0.6 * noise / (np.abs(noise).max() + 1e-8) * 0.25
    target = rng.uniform(*area)
    mask = field >= np.quantile(field, 1.0 - target)
    labels, n = ndimage.label(mask)
    if n > 1:  # keep the largest piece
        mask = labels == 1 + np.argmax(ndimage.sum(mask, labels, range(1, n + 1)))
    return ndimage.binary_fill_holes(mask)


def fg_bg_scene(rng: np.random.Generator, size: int = 64) -> dict:
    """``image`` uint8 ``[size, size, 3]``, ``mask`` uint8 ``[size, size]`` (1: the object),
    ``kind`` (0..2: a dSprites shape, 3: a blob)."""
    kind = int(rng.integers(len(SHAPES) + 1))
    if kind < len(SHAPES):
        scale = rng.uniform(1.4, 2.2)  # a large shape: 22-35% of the width in radius
        x, y = rng.uniform(0.3, 0.7, size=2)
        mask = shape_mask(kind, scale, rng.uniform(0, 2 * np.pi), x, y, size)
    else:
        mask = blob_mask(rng, size, (0.12, 0.35))
    background = _region(rng, size)
    foreground = _region(rng, size, avoid=background.mean((0, 1)))
    image = np.where(mask[..., None], foreground, background)
    return {
        "image": np.round(image * 255).astype(np.uint8),
        "mask": mask.astype(np.uint8),
        "kind": np.int32(kind),
    }


def _digit_of_parity(rng: np.random.Generator, digits: Digits, parity: int) -> np.ndarray:
    while True:
        image, label = digits.draw(rng)
        if label % 2 == parity:
            return image


def digits_scene(rng: np.random.Generator, digits: Digits, size: int = 128) -> dict:
    """The ReDO authors' check (their coloured MNIST): one even and one odd digit, 56 px
    (MNIST's 28 doubled, nearest), thresholded at 0.5, on a background of a random
    colour with ``r = g`` in [0.33, 0.66]; the even digit a random dark colour (each
    channel in [0, 0.33], ``g = b``), the odd one bright ([0.66, 1], ``r = b``); painted
    in a random order.  ``mask``: 0 background, 1 the even digit, 2 the odd one."""
    bg, dark, bright = (rng.uniform(lo, hi, 3) for lo, hi in ((0.33, 0.66), (0, 0.33), (0.66, 1)))
    bg[0], dark[1], bright[0] = bg[1], dark[2], bright[2]
    canvas = np.broadcast_to(bg, (size, size, 3)).copy()
    mask = np.zeros((size, size), np.uint8)
    side = 56 * size // 128  # the original's 56 px at 128
    for parity in rng.permutation(2):
        image = _digit_of_parity(rng, digits, int(parity))
        ink = ndimage.zoom(image, side / image.shape[0], order=0) > 0.5
        h, w = ink.shape
        y0, x0 = rng.integers(0, size - h, size=2)
        canvas[y0 : y0 + h, x0 : x0 + w][ink] = bright if parity else dark
        mask[y0 : y0 + h, x0 : x0 + w][ink] = 2 if parity else 1
    image = np.round(canvas * 255).astype(np.uint8)
    return {"image": image, "mask": mask, "kind": np.int32(-1)}
