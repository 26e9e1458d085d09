"""Scene properties a builder knows, as integer class labels (for probes and feature nets).

``scene_labels(dataset, examples)`` maps stacked examples (numpy dicts as the
builders store them) to ``{name: int array [N]}``; ``LABEL_CLASSES[dataset]``
gives each label's number of classes.  A dataset without an entry has no labels.
"""

import numpy as np

from ocg_jax.data import tetrominoes
from ocg_jax.data.render import PALETTE_LEVELS, SHAPES

#: dataset -> {label name: number of classes}
LABEL_CLASSES: dict[str, dict[str, int]] = {
    "multi_dsprites": {
        "num_objects": 4,  # 1..4 objects -> 0..3
        "largest_shape": len(SHAPES),  # shape of the object with most visible pixels
        "largest_red": len(PALETTE_LEVELS),  # its colour, one palette level per channel
        "largest_green": len(PALETTE_LEVELS),
        "largest_blue": len(PALETTE_LEVELS),
    },
    "tetrominoes": {  # the objects with the left-most and right-most centres
        "leftmost_shape": len(tetrominoes.SHAPES),
        "leftmost_colour": len(tetrominoes.COLOURS),
        "rightmost_shape": len(tetrominoes.SHAPES),
        "rightmost_colour": len(tetrominoes.COLOURS),
    },
}


def _multi_dsprites(ex: dict) -> dict[str, np.ndarray]:
    largest = np.argmax(ex["visible_pixels"], axis=1)  # [N]
    rows = np.arange(len(largest))
    colour = ex["colour"][rows, largest]  # [N, 3] uint8 palette values
    level = np.searchsorted(PALETTE_LEVELS, colour)
    return {
        "num_objects": np.asarray(ex["num_objects"], np.int32) - 1,
        "largest_shape": np.asarray(ex["shape"][rows, largest], np.int32),
        "largest_red": level[:, 0].astype(np.int32),
        "largest_green": level[:, 1].astype(np.int32),
        "largest_blue": level[:, 2].astype(np.int32),
    }


def _tetrominoes(ex: dict) -> dict[str, np.ndarray]:
    rows = np.arange(len(ex["x"]))
    out = {}
    for side, pick in (("leftmost", np.argmin), ("rightmost", np.argmax)):
        i = pick(ex["x"], axis=1)
        out[f"{side}_shape"] = np.asarray(ex["shape"][rows, i], np.int32)
        out[f"{side}_colour"] = np.asarray(ex["colour"][rows, i], np.int32)
    return out


_LABEL_FNS = {"multi_dsprites": _multi_dsprites, "tetrominoes": _tetrominoes}


def has_labels(dataset: str) -> bool:
    return dataset in _LABEL_FNS


def scene_labels(dataset: str, examples: dict) -> dict[str, np.ndarray]:
    """``{name: [N] int32}`` for stacked ``examples`` of ``dataset``."""
    if dataset not in _LABEL_FNS:
        raise ValueError(f"no scene labels for dataset {dataset!r}; known: {sorted(_LABEL_FNS)}")
    labels = _LABEL_FNS[dataset](examples)
    for name, y in labels.items():
        n = LABEL_CLASSES[dataset][name]
        if y.min() < 0 or y.max() >= n:
            raise ValueError(f"label {name!r} outside 0..{n - 1}: {y.min()}..{y.max()}")
    return labels


#: dataset -> the names of its per-pixel classes (``class_maps``), background first
SEGMENT_CLASSES: dict[str, tuple[str, ...]] = {
    "multi_dsprites": ("background", *SHAPES),
    "tetrominoes": ("background", *(f"piece_{i}" for i in range(len(tetrominoes.SHAPES)))),
}


#: datasets whose class of an object survives flips and quarter turns (dSprites shapes are
#: drawn at every orientation; a tetromino turned is another of the 19 pieces)
DIHEDRAL_CLASSES = frozenset({"multi_dsprites"})


def class_maps(dataset: str, examples: dict) -> np.ndarray:
    """``[N, H, W]`` int32 per-pixel classes of stacked ``examples``: 0 where the instance
    mask is background, else 1 + the shape (piece) of the object the pixel shows."""
    if dataset not in SEGMENT_CLASSES:
        raise ValueError(
            f"no per-pixel classes for dataset {dataset!r}; known: {sorted(SEGMENT_CLASSES)}"
        )
    mask = np.asarray(examples["mask"]).astype(np.int64)  # [N, H, W] instance labels
    shape = np.asarray(examples["shape"], np.int64)  # [N, K] per object
    obj = np.take_along_axis(shape, np.maximum(mask - 1, 0).reshape(len(mask), -1), axis=1)
    return np.where(mask > 0, 1 + obj.reshape(mask.shape), 0).astype(np.int32)
