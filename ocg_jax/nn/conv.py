"""Gated convolutions and the GENESIS conv encoder / deconv decoder.

A gated conv computes ``h * sigmoid(g)`` where ``h`` and ``g`` are two
convolutions of the same input.  We run them as one conv with ``2C`` outputs
(one kernel launch) and, when normalised, one BatchNorm over the ``2C``
channels, which is exactly BatchNorm on each branch.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.nn import layers

Array = jax.Array


def _gate(y: Array, norm: bool, train: bool) -> Array:
    if norm:
        return layers.NormGate(not train, momentum=0.9, epsilon=1e-5, name="BatchNorm_0")(y)
    return layers.gate(y)


class GatedConv(nn.Module):
    """``[B, H, W, Cin] -> [B, H/s, W/s, features]`` gated conv, SAME padding."""

    features: int
    kernel: int = 5
    stride: int = 1
    norm: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        k, f, bias = (self.kernel, self.kernel), 2 * self.features, not self.norm
        if self.stride == 1:
            y = layers.Conv(f, k, padding="SAME", use_bias=bias, name="Conv_0")(x)
        elif self.stride == 2:
            y = layers.StridedConv(f, k, padding="SAME", use_bias=bias, name="Conv_0")(x)
        else:
            raise ValueError(f"GatedConv supports strides 1 and 2, got {self.stride}")
        return _gate(y, self.norm, train)


class GatedUpConv(nn.Module):
    """Gated transposed conv, ``[B, H, W, Cin] -> [B, sH, sW, features]``, SAME-sized.

    Stride 1 is a SAME conv; stride 2 is PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2,
    output_padding=1)`` (the original GENESIS layer), computed per output phase
    (``layers.UpConv``).
    """

    features: int
    kernel: int = 5
    stride: int = 1
    norm: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        k, f, bias = (self.kernel, self.kernel), 2 * self.features, not self.norm
        if self.stride == 1:
            y = layers.Conv(f, k, use_bias=bias, name="Conv_0")(x)
        elif self.stride == 2:
            y = layers.UpConv(f, k, use_bias=bias, name="Conv_0")(x)
        else:
            raise ValueError(f"GatedUpConv supports strides 1 and 2, got {self.stride}")
        return _gate(y, self.norm, train)


class GatedDense(nn.Module):
    """Gated dense layer; a ``k x k`` conv whose kernel covers the whole map.

    ``[B, ...] -> [B, features]``.  A valid conv with a kernel equal to its input
    map (or a transposed conv from a 1x1 map) is a dense layer; running it as
    one avoids XLA's slow large-kernel conv path.
    """

    features: int
    norm: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        y = layers.Dense(2 * self.features, use_bias=not self.norm)(x.reshape(x.shape[0], -1))
        return _gate(y, self.norm, train)


class GatedConvEncoder(nn.Module):
    """GENESIS mask encoder: ``[B, H, W, C] -> [B, out_features]``.

    Gated 5x5 convs with ``channels`` / ``strides`` (BatchNorm on both branches if
    ``norm``), then one gated layer whose kernel covers the remaining map (a dense
    layer, see ``GatedDense``), without normalisation as in the original.
    """

    channels: Sequence[int] = (32, 32, 64, 64, 64)
    strides: Sequence[int] = (1, 2, 1, 2, 1)
    out_features: int = 256
    norm: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        for c, s in zip(self.channels, self.strides, strict=True):
            x = GatedConv(c, 5, s, self.norm)(x, train=train)
        return layers.to_float32(GatedDense(self.out_features, norm=False)(x, train=train))


class GatedDeconvDecoder(nn.Module):
    """GENESIS mask decoder (and DC-VAE's), mirroring ``GatedConvEncoder``.

    ``[N, D] -> [N, H, W, out_channels]`` (linear output, no activation).  A first gated
    layer without normalisation maps ``z`` to a ``base x base x base_channels`` map (the
    original's transposed conv from 1x1 with a ``base``-sized kernel, run as a dense
    layer), then gated 5x5 transposed convs with output ``channels`` and ``strides``
    (64, 32, 32, 32, 32 and 1, 2, 1, 2, 1 at 64 px: the first stride-2 layer is 64 -> 32),
    then a 1x1 conv.
    """

    image_size: int
    channels: Sequence[int] = (64, 32, 32, 32, 32)
    strides: Sequence[int] = (1, 2, 1, 2, 1)
    base_channels: int = 64
    out_channels: int = 1
    norm: bool = True

    @nn.compact
    def __call__(self, z: Array, *, train: bool) -> Array:
        down = 1
        for s in self.strides:
            down *= s
        base, c0 = self.image_size // down, self.base_channels
        y = layers.Dense(base * base * 2 * c0, name="Dense_0")(z)
        x = layers.gate(y.reshape(z.shape[0], base, base, 2 * c0))
        for c, s in zip(self.channels, self.strides, strict=True):
            x = GatedUpConv(c, 5, s, self.norm)(x, train=train)
        return layers.to_float32(layers.Conv(self.out_channels, (1, 1), name="Conv_0")(x))


class ComponentEncoder(nn.Module):
    """Component VAE encoder of GENESIS and MONet: ``[N, H, W, C] -> (mean, std)``, each
    ``[N, latent]``; 3x3 stride-2 convs, a 256-unit layer, std = softplus(. + 0.5) + 1e-8."""

    latent: int = 16
    channels: Sequence[int] = (32, 32, 64, 64)
    activation: Callable[[Array], Array] = layers.elu

    @nn.compact
    def __call__(self, x: Array):
        for i, c in enumerate(self.channels):
            x = self.activation(
                layers.StridedConv(c, (3, 3), padding=((1, 1), (1, 1)), name=f"Conv_{i}")(x)
            )
        x = self.activation(layers.Dense(256, name="Dense_0")(x.reshape(x.shape[0], -1)))
        out = layers.to_float32(layers.Dense(2 * self.latent, name="Dense_1")(x))
        mean, raw = jnp.split(out, 2, axis=-1)
        return mean, nn.softplus(raw + 0.5) + 1e-8
