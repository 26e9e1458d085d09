"""multi_digits: 50x50 canvases with a few handwritten digits, for AIR.

Procedural and deterministic; digits from scikit-learn's bundled 8x8 digits
(upsampled to 20 px), or, for the ``mnist*`` configs, from MNIST files the user
already has in the manual dir (``ocg_jax.data.digits``).  Train canvases use
train digits only; validation, test and ``test_3`` canvases held-out digits.
``test_3`` holds exactly three digits per canvas (AIR's extrapolation test).
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import example_rng, manual_dir
from ocg_jax.data.digits import MAX_DIGITS, draw_canvas, mnist_digits, sklearn_digits

_SPLITS = ("train", "validation", "test", "test_3")


@dataclasses.dataclass
class MultiDigitsConfig(tfds.core.BuilderConfig):
    """Split sizes, digits per canvas (uniform in ``min_digits..max_digits``), digit source."""

    num_train: int = 60_000
    num_validation: int = 10_000
    num_test: int = 10_000
    num_test_3: int = 10_000
    min_digits: int = 0
    max_digits: int = 2
    source: str = "sklearn"  # or "mnist" (the user's files, in the manual dir)
    image_size: int = 50
    seed: int = 0


def _config(name, description, **kw):
    return MultiDigitsConfig(name=name, description=description, **kw)


_SIZES = {
    "full": dict(num_train=60_000, num_validation=10_000, num_test=10_000, num_test_3=10_000),
    "small": dict(num_train=10_000, num_validation=1_000, num_test=1_000, num_test_3=1_000),
    "tiny": dict(num_train=64, num_validation=16, num_test=16, num_test_3=16),
}


class Builder(tfds.core.GeneratorBasedBuilder):
    """Multi-digit canvases with instance masks, counts, digit classes and boxes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "0-2 (or 0-3) digits on 50x50; sklearn or MNIST digits."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Only the mnist* configs read files: put mnist.npz (Keras layout) or the four MNIST "
        "IDX files (train-images-idx3-ubyte, ..., optionally .gz) in the manual directory."
    )
    BUILDER_CONFIGS = [
        _config(
            f"{size}{suffix}", f"{size}: {sizes['num_train']} train canvases, {desc}", **sizes, **kw
        )
        for size, sizes in _SIZES.items()
        for suffix, desc, kw in (
            ("", "0-2 sklearn digits", {}),
            ("_0to3", "0-3 sklearn digits", {"max_digits": 3}),
            ("_mnist", "0-2 MNIST digits from your files", {"source": "mnist"}),
        )
    ]
    DEFAULT_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(size, size, 1), dtype=np.uint8, encoding="zlib"
                    ),
                    "mask": tfds.features.Tensor(
                        shape=(size, size), dtype=np.uint8, encoding="zlib"
                    ),
                    "num_objects": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "digit": tfds.features.Tensor(shape=(MAX_DIGITS,), dtype=np.int32),
                    "box": tfds.features.Tensor(shape=(MAX_DIGITS, 4), dtype=np.float32),
                }
            ),
            description=(
                "Handwritten digits on a black canvas; mask = instance ids (0 background), "
                "box = (y0, x0, y1, x1) of each placed digit in pixels, digit = its class "
                "(-1: no digit in that slot)."
            ),
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        if cfg.source == "mnist":
            digits = mnist_digits(manual_dir(dl_manager))
        else:
            digits = sklearn_digits()
        return {
            split: self._generate_examples(split, digits["train" if split == "train" else "test"])
            for split in _SPLITS
        }

    def _generate_examples(self, split: str, digits):
        cfg = self.builder_config
        lo, hi = (3, 3) if split == "test_3" else (cfg.min_digits, cfg.max_digits)
        for index in range(getattr(cfg, f"num_{split}")):
            rng = example_rng(cfg.seed, split, index)
            count = int(rng.integers(lo, hi + 1))
            yield index, draw_canvas(rng, digits, count, cfg.image_size)
