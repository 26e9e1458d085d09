"""tfds builders, one package per dataset; ``get_builder`` finds them by name."""

import importlib

import numpy as np
import tensorflow_datasets as tfds

#: dataset name -> module holding its ``Builder``
BUILDERS = {
    "multi_dsprites": "ocg_jax.data.builders.multi_dsprites.multi_dsprites_dataset_builder",
    "tetrominoes": "ocg_jax.data.builders.tetrominoes.tetrominoes_dataset_builder",
    "multi_object": "ocg_jax.data.builders.multi_object.multi_object_dataset_builder",
    "multi_digits": "ocg_jax.data.builders.multi_digits.multi_digits_dataset_builder",
    "dsprites": "ocg_jax.data.builders.dsprites.dsprites_dataset_builder",
    "pinwheel": "ocg_jax.data.builders.pinwheel.pinwheel_dataset_builder",
    "fg_bg": "ocg_jax.data.builders.fg_bg.fg_bg_dataset_builder",
    "flowers": "ocg_jax.data.builders.flowers.flowers_dataset_builder",
    "cub": "ocg_jax.data.builders.cub.cub_dataset_builder",
    "lfw": "ocg_jax.data.builders.lfw.lfw_dataset_builder",
    "fashion_mnist_files": (
        "ocg_jax.data.builders.fashion_mnist_files.fashion_mnist_files_dataset_builder"
    ),
}


def get_builder(
    name: str, config: str | None = None, data_dir: str | None = None
) -> tfds.core.DatasetBuilder:
    """The tfds builder ``name`` with builder config ``config``."""
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(BUILDERS)}")
    builder_cls = importlib.import_module(BUILDERS[name]).Builder
    known = [c.name for c in builder_cls.BUILDER_CONFIGS]
    if config is not None and config not in known:
        raise ValueError(f"dataset {name!r} has no config {config!r}; known: {known}")
    return builder_cls(config=config, data_dir=data_dir, file_format="array_record")


def manual_dir(dl_manager):
    """The user's manual directory (empty or not: the builders' readers then name the files
    they miss in it), or None when none was given or it does not exist."""
    try:
        return dl_manager.manual_dir
    except AssertionError:  # tfds's when the directory is missing or empty
        path = getattr(dl_manager, "_manual_dir", None)  # the path the user gave
        return path if path is not None and path.exists() else None


#: each split's id in the seeds of the procedural builders
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2, "test_3": 3}


def example_rng(seed: int, split: str, *index: int) -> np.random.Generator:
    """The generator of one procedural example (or, without ``index``, of a whole split):
    seeded by (seed, split id, index), so each example is reproducible on its own."""
    return np.random.default_rng([seed, SPLIT_IDS[split], *index])
