"""Procedural shapes: the dSprites shapes and multi-object scenes made of them.

Everything is numpy and deterministic given a ``numpy.random.Generator``.
"""

import numpy as np

SHAPES = ("square", "ellipse", "heart")
#: dSprites latent values: 6 scales in [0.5, 1], 40 orientations in [0, 2pi),
#: 32 positions in [0, 1] along x and y.
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)
#: the GENESIS palette: each RGB channel from {0, 63, 127, 191, 255}
PALETTE_LEVELS = np.array([0, 63, 127, 191, 255], np.uint8)


def shape_mask(
    shape: int,
    scale: float,
    orientation: float,
    x: float,
    y: float,
    size: int = 64,
    supersample: int = 2,
) -> np.ndarray:
    """Binary ``[size, size]`` mask of one dSprites shape.

    ``shape`` indexes ``SHAPES``; ``x, y`` in [0, 1] place the centre within the
    central 80% of the image (dSprites keeps shapes inside the frame); a
    scale-1 shape spans about 0.32 of the image width.
    """
    if shape not in range(len(SHAPES)):
        raise ValueError(f"shape must be in 0..{len(SHAPES) - 1}, got {shape}")
    n = size * supersample
    coords = (np.arange(n) + 0.5) / n  # pixel centres in [0, 1]
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    cx, cy = 0.1 + 0.8 * x, 0.1 + 0.8 * y
    radius = 0.16 * scale
    c, s = np.cos(orientation), np.sin(orientation)
    # shape frame: rotate by -orientation, unit radius
    u = (c * (xx - cx) + s * (yy - cy)) / radius
    v = (-s * (xx - cx) + c * (yy - cy)) / radius
    if SHAPES[shape] == "square":
        inside = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    elif SHAPES[shape] == "ellipse":
        inside = u**2 + (v / 0.5) ** 2 <= 1.0
    else:  # heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, pointing down (image y grows down)
        hu, hv = u * 1.15, -v * 1.15 + 0.1
        inside = (hu**2 + hv**2 - 1) ** 3 - hu**2 * hv**3 <= 0
    frac = inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    return frac >= 0.5


def random_colour(rng: np.random.Generator, exclude: list[tuple[int, ...]] = ()) -> np.ndarray:
    """A colour from {0, 63, 127, 191, 255}^3, not in ``exclude``."""
    excluded = {tuple(int(v) for v in e) for e in exclude}
    while True:
        colour = PALETTE_LEVELS[rng.integers(0, 5, size=3)]
        if tuple(int(v) for v in colour) not in excluded:
            return colour


def multi_dsprites_scene(
    rng: np.random.Generator,
    size: int = 64,
    min_objects: int = 1,
    max_objects: int = 4,
    unique_colours: bool = False,
) -> dict:
    """One multi-dSprites scene as the GENESIS generator makes it.

    Returns a dict with ``image`` uint8 ``[size, size, 3]``, ``mask`` uint8
    ``[size, size]`` (instance labels 1..n in paint order, 0 background),
    ``num_objects`` and per-object factors padded to ``max_objects`` (shape -1
    for absent objects): ``shape``, ``scale``, ``orientation``, ``x``, ``y``,
    ``colour``, ``visible_pixels``.
    """
    n = int(rng.integers(min_objects, max_objects + 1))
    background = random_colour(rng)
    used = [background]
    image = np.broadcast_to(background, (size, size, 3)).copy()
    mask = np.zeros((size, size), np.uint8)
    factors = {
        "shape": np.full(max_objects, -1, np.int32),
        "scale": np.zeros(max_objects, np.float32),
        "orientation": np.zeros(max_objects, np.float32),
        "x": np.zeros(max_objects, np.float32),
        "y": np.zeros(max_objects, np.float32),
        "colour": np.zeros((max_objects, 3), np.uint8),
        "visible_pixels": np.zeros(max_objects, np.int32),
    }
    for i in range(n):
        shape = int(rng.integers(0, len(SHAPES)))
        scale = float(SCALES[rng.integers(0, len(SCALES))])
        orient = float(ORIENTATIONS[rng.integers(0, len(ORIENTATIONS))])
        x = float(POSITIONS[rng.integers(0, len(POSITIONS))])
        y = float(POSITIONS[rng.integers(0, len(POSITIONS))])
        colour = random_colour(rng, used if unique_colours else ())
        used.append(colour)
        obj = shape_mask(shape, scale, orient, x, y, size)
        image[obj] = colour
        mask[obj] = i + 1  # later objects occlude earlier ones
        for key, val in (
            ("shape", shape),
            ("scale", scale),
            ("orientation", orient),
            ("x", x),
            ("y", y),
            ("colour", colour),
        ):
            factors[key][i] = val
    for i in range(n):
        factors["visible_pixels"][i] = int(np.sum(mask == i + 1))
    return {"image": image, "mask": mask, "num_objects": np.int32(n), **factors}
