"""A small classifier of whole scenes: the offline feature network for Fréchet distances.

``[N, H, W, C]`` in [0, 1] -> 128-d features and one logit vector per scene label
(``ocg_jax.data.labels``); trained with the ``supervised`` recipe
(``ocg_jax.analysis.feature_net``).
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
from flax import struct

from ocg_jax.models.base import Array, Family, InputSpec, Variables


@struct.dataclass
class SceneOutputs:
    features: Array  # [B, 128] penultimate layer
    logits: dict[str, Array]  # per label [B, classes]


class SceneNet(nn.Module):
    """Four stride-2 3x3 convs (32, 64, 128, 128, ReLU), a 128-unit layer, a head per label."""

    image_size: int = 64
    channels: int = 3
    classes: tuple[tuple[str, int], ...] = ()  # (label, number of classes)

    @nn.compact
    def __call__(self, x: Array) -> SceneOutputs:
        for c in (32, 64, 128, 128):
            x = nn.relu(nn.Conv(c, (3, 3), (2, 2))(x))
        feats = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
        logits = {k: nn.Dense(n, name=f"head_{k}")(feats) for k, n in self.classes}
        return SceneOutputs(feats, logits)


@dataclasses.dataclass(frozen=True)
class SceneNetFamily(Family):
    """``SceneNet`` behind the model contract; trains with the ``supervised`` recipe."""

    net: SceneNet
    name: str = "scene_net"
    recipe: ClassVar[str] = "supervised"
    samples: ClassVar[bool] = False
    evaluators: ClassVar[tuple[str, ...]] = ()

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, self.net.channels))

    @property
    def targets(self) -> dict[str, int]:
        return dict(self.net.classes)

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        return self.net.init(rng, batch)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        del rng, train  # deterministic, no batch statistics
        return self.net.apply(variables, images), {}

    def features(self, outputs: SceneOutputs, *, sample: bool = True) -> Array:
        del sample  # deterministic
        return outputs.features


def scene_net(image_size: int, classes: dict[str, int], channels: int = 3) -> SceneNetFamily:
    return SceneNetFamily(SceneNet(image_size, channels, tuple(sorted(classes.items()))))
