"""lfw: LFW funneled faces and face-and-hair masks at 128 px, from the manual dir
(``ocg_jax.data.birds_faces``: the files, the mask rule and ReDO's splits)."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.birds_faces import SPLITS, LFWFiles
from ocg_jax.data.builders import manual_dir


@dataclasses.dataclass
class LFWConfig(tfds.core.BuilderConfig):
    image_size: int = 128


class Builder(tfds.core.GeneratorBasedBuilder):
    """Faces with their face-and-hair mask (1); the train split is unlabelled (all 0)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "ReDO's reading of LFW and its part labels."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put lfw_funneled/, parts_lfw_funneled_gt_images/ and ReDO's train.txt, val.txt and "
        "test.txt in the manual directory."
    )
    BUILDER_CONFIGS = [
        LFWConfig(name="128", description="128x128"),
        LFWConfig(name="64", description="64x64", image_size=64),
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
                    "labelled": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            description="mask: 1 face or hair, 0 background (labelled=0: no mask, all 0).",
        )

    def _split_generators(self, dl_manager):
        files = LFWFiles(manual_dir(dl_manager))
        return {split: self._generate_examples(files, split) for split in SPLITS}

    def _generate_examples(self, files: LFWFiles, split: str):
        size = self.builder_config.image_size
        for person, name in files.split_names(split):
            yield name, files.example(person, name, size, labelled=split != "train")
