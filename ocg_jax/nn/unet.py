"""The U-Net attention network of MONet (Burgess et al. 2019), as GENESIS reimplemented it."""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.nn import layers

Array = jax.Array


def _block(x: Array, features: int) -> Array:
    """3x3 conv, instance norm (affine, torch's epsilon), ReLU."""
    x = layers.Conv(features, (3, 3), use_bias=False)(x)
    return nn.relu(nn.InstanceNorm(epsilon=1e-5, dtype=layers.compute_dtype())(x))


class UNet(nn.Module):
    """``[N, H, W, C] -> [N, H, W, outputs]`` logits.

    ``len(channels)`` blocks down (nearest-neighbour halving after all but the
    last), an MLP bottleneck on the flattened last map (``mlp`` hidden units,
    back to the map's size, ReLU), then the blocks up, each on the concatenation
    with its skip, doubling after all but the last; a 1x1 conv to ``outputs`` logits.
    With ``log2(H) - 1`` blocks the bottleneck map is 4x4.
    """

    channels: Sequence[int] = (32, 32, 64, 64, 64)
    mlp: Sequence[int] = (128, 128)
    outputs: int = 1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        n, h, w, _ = x.shape
        levels = len(self.channels)
        if h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(f"a {levels}-block U-Net needs H, W divisible by {2 ** (levels - 1)}")
        skips = []
        for i, c in enumerate(self.channels):
            x = _block(x, c)
            skips.append(x)
            if i < levels - 1:
                x = x[:, ::2, ::2]  # nearest-neighbour downsampling by 2
        shape = x.shape
        y = x.reshape(n, -1)
        for units in self.mlp:
            y = nn.relu(layers.Dense(units)(y))
        x = nn.relu(layers.Dense(x[0].size)(y)).reshape(shape)
        for i in reversed(range(levels)):
            x = _block(jnp.concatenate([x, skips[i]], axis=-1), self.channels[max(i - 1, 0)])
            if i > 0:
                x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest upsampling
        return layers.to_float32(layers.Conv(self.outputs, (1, 1))(x))
