"""pinwheel: 400 2-D points on 4 arms per split (``ocg_jax.data.pinwheel``), seeded.

Train, validation and test are independent draws of the same generator, as the
original draws its train and test sets.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import example_rng
from ocg_jax.data.pinwheel import pinwheel

_SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class PinwheelConfig(tfds.core.BuilderConfig):
    radial_std: float = 0.1
    tangential_std: float = 0.3
    num_arms: int = 4
    per_arm: int = 100
    rate: float = 0.25
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Pinwheel points and the arm each was drawn from."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "4 arms of 100 points per split."}
    BUILDER_CONFIGS = [PinwheelConfig(name="default", description="4 arms x 100 points")]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "point": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                    "arm": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            description="Pinwheel points (Adams' generator, as Mathieu et al. 2019 use it).",
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in _SPLITS}

    def _generate_examples(self, split: str):
        cfg = self.builder_config
        rng = example_rng(cfg.seed, split)
        points, arms = pinwheel(
            rng, cfg.radial_std, cfg.tangential_std, cfg.num_arms, cfg.per_arm, cfg.rate
        )
        for i, (p, a) in enumerate(zip(points, arms, strict=True)):
            yield i, {"point": p, "arm": a}
