"""flowers: Oxford Flowers 102 images and foreground masks at 128 px, from the manual dir
(``ocg_jax.data.flowers``: the files, the mask rule and ReDO's splits)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import manual_dir
from ocg_jax.data.flowers import SPLIT_KEYS, FlowersFiles


@dataclasses.dataclass
class FlowersConfig(tfds.core.BuilderConfig):
    image_size: int = 128


class Builder(tfds.core.GeneratorBasedBuilder):
    """Flowers with their foreground mask (1: flower)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "ReDO's reading of Oxford Flowers 102."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put jpg/ (or 102flowers.tgz), segmim/ (or 102segmentations.tgz) and setid.mat "
        "from https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ in the manual directory."
    )
    BUILDER_CONFIGS = [
        FlowersConfig(name="128", description="128x128"),
        FlowersConfig(name="64", description="64x64", image_size=64),
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
            description="mask: 1 flower, 0 background; number: the image's file number.",
        )

    def _split_generators(self, dl_manager):
        files = FlowersFiles(manual_dir(dl_manager))
        return {split: self._generate_examples(files, split) for split in SPLIT_KEYS}

    def _generate_examples(self, files: FlowersFiles, split: str):
        for number in files.split_ids(split):
            yield int(number), files.example(int(number), self.builder_config.image_size)
