"""Spatial-broadcast decoder (Watters et al. 2019) with coordinate channels."""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.nn import layers

Array = jax.Array


def coord_grid(height: int, width: int) -> Array:
    """``[H, W, 2]`` coordinates in [-1, 1] (x along width, y along height)."""
    ys = jnp.linspace(-1.0, 1.0, height)
    xs = jnp.linspace(-1.0, 1.0, width)
    yy, xx = jnp.meshgrid(ys, xs, indexing="ij")
    return jnp.stack([xx, yy], axis=-1)


class BroadcastDecoder(nn.Module):
    """``[N, D] -> [N, H, W, out_channels]`` (linear outputs).

    ``z`` is tiled to ``(H + 2L) x (W + 2L)``, joined with two coordinate
    channels, and decoded by ``L`` unpadded 3x3 convs and a 1x1 conv.

    The first conv is computed without materialising the tiled map: on a
    constant map a valid conv equals a dense layer with the kernel summed over
    its taps, so layer 1 = ``Dense(z)`` + ``conv(coords)`` (the same function
    and parameters as the plain form, at a fraction of the cost).
    """

    image_size: int
    out_channels: int
    hidden: int = 32
    num_layers: int = 4
    activation: Callable[[Array], Array] = layers.elu

    @nn.compact
    def __call__(self, z: Array) -> Array:
        n, d = z.shape
        size = self.image_size + 2 * self.num_layers
        coords = coord_grid(size, size).astype(z.dtype)
        kernel = self.param(
            "conv0_kernel", nn.initializers.lecun_normal(), (3, 3, d + 2, self.hidden), jnp.float32
        )
        bias = self.param("conv0_bias", nn.initializers.zeros, (self.hidden,), jnp.float32)
        # z part: [N, hidden]; coordinate part: [H', W', hidden], shared by every item
        dt = layers.compute_dtype()
        z, coords, kernel, bias = (
            z.astype(dt),
            coords.astype(dt),
            kernel.astype(dt),
            bias.astype(dt),
        )
        z_part = z @ kernel[:, :, :d].sum(axis=(0, 1))
        c_part = jax.lax.conv_general_dilated(
            coords[None],
            kernel[:, :, d:],
            (1, 1),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )[0]
        bias = layers.channels(bias, 4)
        x = self.activation(z_part[:, None, None, :] + layers.tile(c_part, n) + bias)
        for i in range(self.num_layers - 1):
            x = self.activation(
                layers.Conv(self.hidden, (3, 3), padding="VALID", name=f"Conv_{i}")(x)
            )
        out = layers.Conv(self.out_channels, (1, 1), name=f"Conv_{self.num_layers - 1}")(x)
        return layers.to_float32(out)
