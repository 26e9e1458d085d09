"""A small semantic segmenter: the fixed network behind segment statistics (FSD).

``[N, H, W, C]`` in [0, 1] -> per-pixel logits ``[N, H, W, classes]`` for the
builder's class maps (``ocg_jax.data.labels.class_maps``: background and one class
per shape); a U-Net whose MLP bottleneck sees the whole scene.  Trained with the
``supervised`` recipe on the target ``class_map`` (``ocg_jax.analysis.segmenter``).
"""

import dataclasses
from typing import ClassVar

from flax import struct

from ocg_jax.models.base import Array, Family, InputSpec, Variables
from ocg_jax.nn.unet import UNet


@struct.dataclass
class SegmenterOutputs:
    logits: dict[str, Array]  # {"class_map": [B, H, W, classes]}


@dataclasses.dataclass(frozen=True)
class Segmenter(Family):
    """The segmenter behind the model contract; trains with the ``supervised`` recipe."""

    net: UNet
    image_size: int
    channels: int = 3
    name: str = "segmenter"
    recipe: ClassVar[str] = "supervised"
    samples: ClassVar[bool] = False
    evaluators: ClassVar[tuple[str, ...]] = ()

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.image_size, self.image_size, self.channels))

    @property
    def targets(self) -> dict[str, int]:
        return {"class_map": self.net.outputs}

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        return self.net.init(rng, batch)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        del rng, train  # deterministic, no batch statistics (instance norm)
        return SegmenterOutputs({"class_map": self.net.apply(variables, images)}), {}


def segmenter(image_size: int, num_classes: int, channels: int = 3) -> Segmenter:
    """Four levels down to ``image_size / 8`` (32-128 channels) and a 256-unit bottleneck
    (the widths were chosen by the trials in ``docs/results.md``)."""
    if image_size % 8:
        raise ValueError(f"the segmenter needs an image size divisible by 8, got {image_size}")
    net = UNet(channels=(32, 64, 128, 128), mlp=(256,), outputs=num_classes)
    return Segmenter(net, image_size, channels)
