"""tetrominoes: three tetrominoes of 19 shapes and 6 colours on black, 32x32.

Generated procedurally and deterministically on this machine; nothing is
downloaded.  DeepMind's original files (35x35) can be converted with the
``multi_object`` builder instead.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import example_rng
from ocg_jax.data.tetrominoes import COLOURS, NUM_OBJECTS, SHAPES, tetrominoes_scene

_SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class TetrominoesConfig(tfds.core.BuilderConfig):
    """Split sizes, image size and cell size in pixels."""

    num_train: int = 60_000
    num_validation: int = 10_000
    num_test: int = 10_000
    image_size: int = 32
    block: int = 4
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Tetrominoes scenes with instance masks and per-object shape and colour."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "3 non-overlapping tetrominoes, 4px cells, 32x32."}
    BUILDER_CONFIGS = [
        TetrominoesConfig(name="full", description="60k / 10k / 10k."),
        TetrominoesConfig(
            name="small",
            num_train=5_000,
            num_validation=500,
            num_test=1_000,
            description="5k / 500 / 1k, for short runs on a CPU.",
        ),
        TetrominoesConfig(
            name="tiny",
            num_train=64,
            num_validation=16,
            num_test=16,
            description="64 / 16 / 16, for tests and demos.",
        ),
    ]
    DEFAULT_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        per_object = lambda dtype: tfds.features.Tensor(shape=(NUM_OBJECTS,), dtype=dtype)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(size, size, 3), dtype=np.uint8, encoding="zlib"
                    ),
                    "mask": tfds.features.Tensor(
                        shape=(size, size), dtype=np.uint8, encoding="zlib"
                    ),
                    "shape": per_object(np.int32),
                    "colour": per_object(np.int32),
                    "x": per_object(np.float32),
                    "y": per_object(np.float32),
                    "visible_pixels": per_object(np.int32),
                }
            ),
            description=(
                f"Tetrominoes: {NUM_OBJECTS} of {len(SHAPES)} shapes in {len(COLOURS)} colours "
                "on black; mask = instance labels, 0 = background."
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # procedural: nothing to download
        cfg = self.builder_config
        return {
            split: self._generate_examples(split, getattr(cfg, f"num_{split}")) for split in _SPLITS
        }

    def _generate_examples(self, split: str, num: int):
        cfg = self.builder_config
        for index in range(num):
            rng = example_rng(cfg.seed, split, index)
            yield index, tetrominoes_scene(rng, cfg.image_size, cfg.block)
