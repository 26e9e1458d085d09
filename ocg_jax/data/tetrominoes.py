"""Tetrominoes scenes: three of the 19 fixed tetrominoes in 6 colours on black.

After the Tetrominoes set of DeepMind's multi_object_datasets (used by IODINE
and GENESIS), generated here: numpy only, deterministic given a generator.
"""

import numpy as np

#: the seven free tetrominoes as cells (row, col) of one orientation
_FREE = {
    "I": [(0, 0), (0, 1), (0, 2), (0, 3)],
    "O": [(0, 0), (0, 1), (1, 0), (1, 1)],
    "T": [(0, 0), (0, 1), (0, 2), (1, 1)],
    "S": [(0, 1), (0, 2), (1, 0), (1, 1)],
    "Z": [(0, 0), (0, 1), (1, 1), (1, 2)],
    "J": [(0, 0), (1, 0), (1, 1), (1, 2)],
    "L": [(0, 2), (1, 0), (1, 1), (1, 2)],
}
#: red, green, blue, yellow, magenta, cyan
COLOURS = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255]], np.uint8
)
NUM_OBJECTS = 3


def _fixed_tetrominoes() -> list[np.ndarray]:
    """The 19 fixed tetrominoes (every distinct rotation), as boolean cell grids."""
    shapes, seen = [], set()
    for cells in _FREE.values():
        grid = np.zeros((4, 4), bool)
        grid[tuple(np.array(cells).T)] = True
        for _ in range(4):
            rows, cols = np.nonzero(grid)
            tight = grid[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            key = (tight.shape, tight.tobytes())
            if key not in seen:
                seen.add(key)
                shapes.append(tight.copy())
            grid = np.rot90(grid)
    return shapes


SHAPES = _fixed_tetrominoes()
assert len(SHAPES) == 19


def tetromino_mask(shape: int, row: int, col: int, size: int, block: int) -> np.ndarray:
    """Boolean ``[size, size]``: tetromino ``shape`` with ``block``-pixel cells, its
    bounding box's top-left corner at pixel ``(row, col)``."""
    cells = np.kron(SHAPES[shape], np.ones((block, block), bool))
    out = np.zeros((size, size), bool)
    h, w = cells.shape
    if row < 0 or col < 0 or row + h > size or col + w > size:
        raise ValueError(f"tetromino {shape} at ({row}, {col}) leaves the {size}px image")
    out[row : row + h, col : col + w] = cells
    return out


def tetrominoes_scene(rng: np.random.Generator, size: int = 32, block: int = 4) -> dict:
    """One scene: ``image`` uint8 ``[size, size, 3]``, ``mask`` uint8 ``[size, size]``
    (labels 1..3, 0 background) and per object ``shape`` (0..18), ``colour`` (0..5),
    ``x``, ``y`` (centre in [0, 1]) and ``visible_pixels``.  Objects do not overlap
    (placements are redrawn until they fit)."""
    image = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    factors = {
        "shape": np.zeros(NUM_OBJECTS, np.int32),
        "colour": np.zeros(NUM_OBJECTS, np.int32),
        "x": np.zeros(NUM_OBJECTS, np.float32),
        "y": np.zeros(NUM_OBJECTS, np.float32),
        "visible_pixels": np.zeros(NUM_OBJECTS, np.int32),
    }
    for i in range(NUM_OBJECTS):
        for _ in range(1000):
            shape = int(rng.integers(0, len(SHAPES)))
            h, w = (block * n for n in SHAPES[shape].shape)
            row, col = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            obj = tetromino_mask(shape, row, col, size, block)
            if not np.any(mask[obj]):
                break
        else:
            raise RuntimeError(f"could not place {NUM_OBJECTS} tetrominoes in {size}px")
        colour = int(rng.integers(0, len(COLOURS)))
        image[obj] = COLOURS[colour]
        mask[obj] = i + 1
        factors["shape"][i], factors["colour"][i] = shape, colour
        factors["x"][i], factors["y"][i] = (col + w / 2) / size, (row + h / 2) / size
        factors["visible_pixels"][i] = int(obj.sum())
    return {"image": image, "mask": mask, **factors}
