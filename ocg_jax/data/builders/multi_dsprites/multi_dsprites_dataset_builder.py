"""multi_dsprites: 1-4 dSprites shapes on a coloured background (the GENESIS generator).

Generated procedurally and deterministically on this machine; nothing is
downloaded.  Stored as array_record and read without TensorFlow:

    builder = ocg_jax.data.builders.get_builder("multi_dsprites", "tiny")
    builder.download_and_prepare()
    source = builder.as_data_source(split="train")
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import example_rng
from ocg_jax.data.render import SHAPES, multi_dsprites_scene

MAX_OBJECTS = 4


@dataclasses.dataclass
class MultiDspritesConfig(tfds.core.BuilderConfig):
    """Split sizes, image size and the unique-colours option."""

    num_train: int = 50_000
    num_validation: int = 10_000
    num_test: int = 10_000
    image_size: int = 64
    unique_colours: bool = False
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Multi-dSprites scenes with instance masks and per-object factors."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "GENESIS generator: 1-4 objects, palette {0,63,127,191,255}^3."}
    BUILDER_CONFIGS = [
        MultiDspritesConfig(name="full", description="50k / 10k / 10k, as in GENESIS."),
        MultiDspritesConfig(
            name="full_unique",
            unique_colours=True,
            description="50k / 10k / 10k, all colours in a scene distinct.",
        ),
        MultiDspritesConfig(
            name="small",
            num_train=5_000,
            num_validation=500,
            num_test=1_000,
            description="5k / 500 / 1k, for short runs on a CPU.",
        ),
        MultiDspritesConfig(
            name="small_32px",
            num_train=5_000,
            num_validation=500,
            num_test=1_000,
            image_size=32,
            description="5k / 500 / 1k at 32x32, for runs of thousands of steps on a CPU.",
        ),
        MultiDspritesConfig(
            name="tiny",
            num_train=256,
            num_validation=64,
            num_test=64,
            description="256 / 64 / 64, for tests and demos.",
        ),
        MultiDspritesConfig(
            name="tiny_32px",
            num_train=64,
            num_validation=16,
            num_test=16,
            image_size=32,
            description="64 / 16 / 16 at 32x32, for engine tests.",
        ),
    ]
    DEFAULT_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        per_object = lambda dtype, shape=(MAX_OBJECTS,): tfds.features.Tensor(
            shape=shape, dtype=dtype
        )
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(size, size, 3), dtype=np.uint8, encoding="zlib"
                    ),
                    "mask": tfds.features.Tensor(
                        shape=(size, size), dtype=np.uint8, encoding="zlib"
                    ),
                    "num_objects": tfds.features.Scalar(dtype=np.int32),
                    "shape": per_object(np.int32),
                    "scale": per_object(np.float32),
                    "orientation": per_object(np.float32),
                    "x": per_object(np.float32),
                    "y": per_object(np.float32),
                    "colour": per_object(np.uint8, (MAX_OBJECTS, 3)),
                    "visible_pixels": per_object(np.int32),
                }
            ),
            description=(
                f"Multi-dSprites: 1-{MAX_OBJECTS} of the shapes {SHAPES}, painted in "
                "order on a coloured background; mask = instance labels, 0 = background."
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # procedural: nothing to download
        cfg = self.builder_config
        return {
            "train": self._generate_examples("train", cfg.num_train),
            "validation": self._generate_examples("validation", cfg.num_validation),
            "test": self._generate_examples("test", cfg.num_test),
        }

    def _generate_examples(self, split: str, num: int):
        cfg = self.builder_config
        for index in range(num):
            rng = example_rng(cfg.seed, split, index)
            yield (
                index,
                multi_dsprites_scene(rng, cfg.image_size, 1, MAX_OBJECTS, cfg.unique_colours),
            )
