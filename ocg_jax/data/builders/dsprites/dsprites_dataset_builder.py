"""dsprites: the dSprites factor grid, rendered here or read from the user's original file.

Configs: ``full`` (all 737,280 grid images in the original's order), ``small`` (a
seeded random 50,000 of them) and ``tiny`` (512; tests), all drawn by the
library's shape renderer (``ocg_jax.data.dsprites``); ``original`` reads
``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` from the manual dir.  dSprites
has no held-out images: ``validation`` and ``test`` are seeded random draws from
the grid, disjoint from ``train`` for ``tiny`` and ``small`` and inside it for
``full`` and ``original`` (the paper scores the training data).
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data import dsprites
from ocg_jax.data.builders import manual_dir


@dataclasses.dataclass
class DspritesConfig(tfds.core.BuilderConfig):
    num_train: int = 0  # 0: the whole grid in order
    num_validation: int = 1_000
    num_test: int = 10_000
    source: str = "render"  # or "npz" (the user's file, in the manual dir)
    image_size: int = 64  # dSprites' only size
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Binary 64x64 dSprites images with their factor classes and values."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The dSprites grid rendered offline, or read from the .npz."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Only the 'original' config reads a file: put "
        "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz in the manual directory."
    )
    BUILDER_CONFIGS = [
        DspritesConfig(name="full", description="all 737,280 grid images, rendered"),
        DspritesConfig(
            name="small",
            description="50,000 random grid images",
            num_train=50_000,
            num_test=5_000,
        ),
        DspritesConfig(
            name="tiny",
            description="512 random grid images (tests)",
            num_train=512,
            num_validation=64,
            num_test=256,
        ),
        DspritesConfig(name="original", description="your .npz file", source="npz"),
    ]
    DEFAULT_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(64, 64, 1), dtype=np.uint8, encoding="zlib"
                    ),
                    "factors": tfds.features.Tensor(shape=(5,), dtype=np.int32),
                    "values": tfds.features.Tensor(shape=(5,), dtype=np.float32),
                }
            ),
            description=(
                "dSprites: image 0/255; factors = classes of (shape, scale, orientation, x, "
                "y) with sizes (3, 6, 40, 32, 32); values = the original's latent values."
            ),
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        if cfg.source == "npz":
            manual = manual_dir(dl_manager)
            data = dsprites.read_npz(dsprites.find_npz(manual))
            total = len(data["image"])
        else:
            data, total = None, dsprites.NUM_IMAGES
        order = np.random.default_rng(cfg.seed).permutation(total)
        n_val, n_test = min(cfg.num_validation, total), min(cfg.num_test, total)
        if cfg.num_train:  # a subset: train, validation, test disjoint
            train = order[: cfg.num_train]
            val = order[cfg.num_train : cfg.num_train + n_val]
            test = order[cfg.num_train + n_val : cfg.num_train + n_val + n_test]
        else:  # the whole grid; validation and test drawn from it
            train, val, test = np.arange(total), order[:n_val], order[::-1][:n_test]
        return {
            "train": self._generate_examples(train, data),
            "validation": self._generate_examples(val, data),
            "test": self._generate_examples(test, data),
        }

    def _generate_examples(self, indices, data):
        for i in indices:
            i = int(i)
            if data is None:
                classes = dsprites.factor_classes(i)
                image = dsprites.render(classes)
                values = dsprites.factor_values(classes)
            else:
                image, classes, values = data["image"][i], data["factors"][i], data["values"][i]
            yield i, {"image": image, "factors": classes, "values": values}
