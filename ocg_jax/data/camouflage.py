"""Camouflage scenes: an object that colour cannot find, only texture and shape.

``camouflage_scene``: the object and the background are each painted with a strong
texture from the same family: the same two or three colours (one palette for the
scene, banded in its own order in each region) by stripes, checks, smooth noise or dots
at a random period, angle and phase.  The two regions' colour histograms overlap, so a
colour rule (``ocg_jax.analysis.colour_rules``) does not segment them; what differs is
the pattern's kind, scale and orientation, and the object's outline.  Objects: a
dSprites shape, a smooth blob or a digit silhouette, at several scales and positions.
``textures`` scenes are the same with a palette of the object's own.  Numpy,
deterministic given a ``numpy.random.Generator``.
"""

import numpy as np
from scipy import ndimage

from ocg_jax.data.digits import Digits
from ocg_jax.data.fg_bg import blob_mask
from ocg_jax.data.render import SHAPES, shape_mask

PATTERNS = ("stripes", "checks", "noise", "dots")
KINDS = (*SHAPES, "blob", "digit")  # the ``kind`` field: index into this


def pattern(rng: np.random.Generator, size: int, kind: str, n: int) -> np.ndarray:
    """``[size, size]`` in [0, 1): a texture field, banded into ``n`` colours by ``paint``
    (each kind uses every band)."""
    period = rng.uniform(3.0, 8.0) * size / 32  # pixels
    angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 1)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    u = (np.cos(angle) * xx + np.sin(angle) * yy) / period + phase
    v = (-np.sin(angle) * xx + np.cos(angle) * yy) / period + phase
    if kind == "stripes":
        return u % 1.0
    if kind == "checks":  # n colours over the cells
        return ((np.floor(u) + 2 * np.floor(v)) % n + 0.5) / n
    if kind == "dots":  # band 0 between the dots, the others over the dots by cell
        r = np.hypot(u % 1.0 - 0.5, v % 1.0 - 0.5)
        band = 1 + (np.floor(u) + np.floor(v)) % (n - 1)
        return (np.where(r < rng.uniform(0.25, 0.4), band, 0) + 0.5) / n
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), period / 2)
    return np.argsort(np.argsort(noise.ravel())).reshape(size, size) / (size * size)


def paint(field: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``[H, W, 3]``: each pixel the colour of its band of ``field`` (equal bands)."""
    index = np.minimum((field * len(colours)).astype(int), len(colours) - 1)
    return colours[index]


def object_mask(rng: np.random.Generator, size: int, digits: Digits) -> tuple[np.ndarray, int]:
    """``(mask [size, size] bool, kind)`` of one object at a random scale and position."""
    kind = int(rng.integers(len(KINDS)))
    if KINDS[kind] == "blob":
        return blob_mask(rng, size, (0.08, 0.35)), kind
    if KINDS[kind] == "digit":
        image, _ = digits.draw(rng)
        side = int(size * rng.uniform(0.5, 0.85))
        big = ndimage.zoom(image, side / image.shape[0], order=1) > 0.35
        big = ndimage.binary_dilation(big, iterations=max(1, size // 32))  # strokes wide enough
        mask = np.zeros((size, size), bool)
        y0, x0 = rng.integers(0, size - big.shape[0] + 1, size=2)
        mask[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big
        return mask, kind
    scale = rng.uniform(1.0, 2.2)
    x, y = rng.uniform(0.25, 0.75, size=2)
    return shape_mask(kind, scale, rng.uniform(0, 2 * np.pi), x, y, size), kind


def camouflage_scene(
    rng: np.random.Generator, digits: Digits, size: int = 64, shared_palette: bool = True
) -> dict:
    """``image`` uint8 ``[size, size, 3]``, ``mask`` uint8 ``[size, size]`` (1: the object),
    ``kind`` (an index into ``KINDS``).  ``shared_palette=False`` (the ``textures`` sets)
    paints the object with colours of its own, drawn as the background's are: its look is
    then independent of the background's, as ReDO assumes, while colour rules still
    score about 0.4 (docs/redo.md)."""
    palette = rng.uniform(0.05, 0.95, size=(int(rng.integers(2, 4)), 3))
    kinds = rng.permutation(len(PATTERNS))[:2]  # the two regions' patterns differ in kind
    n = len(palette)
    image_bg = paint(pattern(rng, size, PATTERNS[kinds[0]], n), rng.permutation(palette))
    if not shared_palette:
        palette = rng.uniform(0.05, 0.95, size=palette.shape)
    image_fg = paint(pattern(rng, size, PATTERNS[kinds[1]], n), rng.permutation(palette))
    mask, kind = object_mask(rng, size, digits)
    image = np.where(mask[..., None], image_fg, image_bg)
    return {
        "image": np.round(image * 255).astype(np.uint8),
        "mask": mask.astype(np.uint8),
        "kind": np.int32(kind),
    }
