"""fg_bg: one textured object on a textured background, with its foreground mask (ReDO).

Configs ``tiny`` (tests), ``small`` and ``full`` at 64 px, the same with ``_128`` at
128 px and with ``_32`` at 32 px (short CPU runs) (``ocg_jax.data.fg_bg.fg_bg_scene``),
``camouflage_<size>`` (the same sizes and suffixes: ``ocg_jax.data.camouflage``, an object
that colour cannot find), ``textures_<size>`` (the same, the object in colours of its own:
its look independent of the background's, as ReDO assumes), and ``digits``: the ReDO
authors' 128 px check with even digits dark and odd digits bright on grey (mask 0, 1, 2;
scikit-learn's digits, train and test canvases from disjoint digits).  Procedural and
deterministic; nothing is downloaded.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ocg_jax.data.builders import example_rng
from ocg_jax.data.camouflage import camouflage_scene
from ocg_jax.data.digits import sklearn_digits
from ocg_jax.data.fg_bg import digits_scene, fg_bg_scene

_SPLITS = ("train", "validation", "test")
_SIZES = {
    "tiny": dict(num_train=64, num_validation=16, num_test=16),
    "small": dict(num_train=10_000, num_validation=500, num_test=500),
    "full": dict(num_train=50_000, num_validation=1_000, num_test=1_000),
}


@dataclasses.dataclass
class FgBgConfig(tfds.core.BuilderConfig):
    num_train: int = 50_000
    num_validation: int = 1_000
    num_test: int = 1_000
    image_size: int = 64
    scene: str = "fg_bg"  # or "camouflage", "textures", "digits"
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """Scenes with a ground-truth region mask (``mask``: 0 background, 1.. the regions)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Textured object on textured background; the digits check."}
    BUILDER_CONFIGS = (
        [
            FgBgConfig(
                name=f"{size}{suffix}",
                description=f"{sizes['num_train']} train scenes, {px} px",
                image_size=px,
                **sizes,
            )
            for size, sizes in _SIZES.items()
            for suffix, px in (("", 64), ("_128", 128), ("_32", 32))
        ]
        + [
            FgBgConfig(
                name=f"{scene}_{size}{suffix}",
                description=f"{sizes['num_train']} {what}, {px} px",
                image_size=px,
                scene=scene,
                **sizes,
            )
            for scene, what in (
                ("camouflage", "camouflaged objects"),
                ("textures", "textured objects of their own colours"),
            )
            for size, sizes in _SIZES.items()
            for suffix, px in (("", 64), ("_128", 128), ("_32", 32))
        ]
        + [
            FgBgConfig(
                name="digits",
                description="even digits dark, odd bright, on grey; 128 px, 3 regions",
                image_size=128,
                scene="digits",
                **_SIZES["small"],
            ),
            FgBgConfig(
                name="digits_tiny",
                description="the digits check, 64 scenes",
                image_size=128,
                scene="digits",
                **_SIZES["tiny"],
            ),
        ]
    )
    DEFAULT_CONFIG_NAME = "full"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(size, size, 3), dtype=np.uint8, encoding="zlib"
                    ),
                    "mask": tfds.features.Tensor(
                        shape=(size, size), dtype=np.uint8, encoding="zlib"
                    ),
                    "kind": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            description=(
                "mask: 0 background, 1 the object (digits: 1 even digits, 2 odd digits); "
                "kind: 0-2 a dSprites shape, 3 a blob, 4 a digit silhouette (camouflage, "
                "textures), -1 digits."
            ),
        )

    def _split_generators(self, dl_manager):
        digits = sklearn_digits() if self.builder_config.scene != "fg_bg" else None
        return {
            split: self._generate_examples(
                split, None if digits is None else digits["train" if split == "train" else "test"]
            )
            for split in _SPLITS
        }

    def _generate_examples(self, split: str, digits):
        cfg = self.builder_config
        for index in range(getattr(cfg, f"num_{split}")):
            rng = example_rng(cfg.seed, split, index)
            if cfg.scene == "fg_bg":
                yield index, fg_bg_scene(rng, cfg.image_size)
            elif cfg.scene in ("camouflage", "textures"):
                shared = cfg.scene == "camouflage"
                yield index, camouflage_scene(rng, digits, cfg.image_size, shared)
            else:
                yield index, digits_scene(rng, digits, cfg.image_size)
