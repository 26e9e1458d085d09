"""cub: CUB-200-2011 images and foreground masks at 128 px, from the manual dir
(``ocg_jax.data.birds_faces``: the files, the mask rule and ReDO's splits)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.birds_faces import SPLITS, CUBFiles
from ocg_jax.data.builders import manual_dir


@dataclasses.dataclass
class CUBConfig(tfds.core.BuilderConfig):
    image_size: int = 128


class Builder(tfds.core.GeneratorBasedBuilder):
    """Birds with their foreground mask (1: bird)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "ReDO's reading of CUB-200-2011."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Extract CUB_200_2011 and its segmentations, put segmentations/ and ReDO's "
        "train_val_test_split.txt in CUB_200_2011/CUB_200_2011, and use that folder."
    )
    BUILDER_CONFIGS = [
        CUBConfig(name="128", description="128x128"),
        CUBConfig(name="64", description="64x64", image_size=64),
    ]
    DEFAULT_CONFIG_NAME = "128"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8),
                    "mask": tfds.features.Tensor(
                        shape=(size, size), dtype=np.uint8, encoding="zlib"
                    ),
                    "number": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            description="mask: 1 bird, 0 background; number: the image's id in images.txt.",
        )

    def _split_generators(self, dl_manager):
        files = CUBFiles(manual_dir(dl_manager))
        return {split: self._generate_examples(files, split) for split in SPLITS}

    def _generate_examples(self, files: CUBFiles, split: str):
        for image_id in files.split_ids(split):
            yield image_id, files.example(image_id, self.builder_config.image_size)
