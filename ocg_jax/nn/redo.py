"""ReDO's networks (Chen, Artières, Denoyer 2019): the mask network F, the region
generators G_k, the residual discriminator D and the latent-recovery network delta.

Images ``[B, S, S, 3]`` in [-1, 1], S = 32, 64 or 128 (32: short CPU runs); n regions;
z ``[B, n, Z]``.
Widths are parameters (the paper: 64 each, F 64 with 3 residual blocks); every
conv and dense layer starts orthogonal with gain 0.8, as the original's
``weights_init_ortho``.  Spectral normalisation (D, delta and the generators'
convs, as the original) keeps its power-iteration vectors in ``batch_stats``;
``update`` advances them (training), else they are read.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
ORTHO = nn.initializers.orthogonal(0.8)


def conv(features: int, kernel: int, stride: int = 1, use_bias: bool = True, padding="SAME"):
    return nn.Conv(
        features, (kernel, kernel), stride, padding=padding, use_bias=use_bias, kernel_init=ORTHO
    )


class SNConv(nn.Module):
    """A spectrally normalised conv."""

    features: int
    kernel: int = 3
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array, update: bool) -> Array:
        layer = conv(self.features, self.kernel, use_bias=self.use_bias)
        return nn.SpectralNorm(layer)(x, update_stats=update)


def instance_norm(x: Array, affine: bool = True) -> Array:
    return nn.InstanceNorm(use_scale=affine, use_bias=affine, epsilon=1e-5)(x)


def avg_pool(x: Array, k: int) -> Array:
    """``k x k`` average pooling, stride ``k`` (floor: trailing pixels dropped)."""
    return nn.avg_pool(x, (k, k), (k, k))


def upsample(x: Array, factor: int = 2) -> Array:
    """Nearest-neighbour upsampling."""
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def reflect_pad(x: Array, p: int) -> Array:
    return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


class MaskNet(nn.Module):
    """F: image -> n region masks ``[B, n, S, S]`` summing to 1 (sigmoid pair for n = 2)."""

    regions: int = 2
    nf: int = 64
    num_res: int = 3
    bins: Sequence[int] = (1, 2, 3, 6)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        relu_in = lambda h: nn.relu(instance_norm(h))
        h = relu_in(conv(self.nf // 4, 7, use_bias=False, padding="VALID")(reflect_pad(x, 3)))
        h = relu_in(conv(self.nf // 2, 3, 2, use_bias=False)(h))
        h = relu_in(conv(self.nf, 3, 2, use_bias=False)(h))
        for _ in range(self.num_res):
            r = conv(self.nf, 3)(relu_in(conv(self.nf, 3, use_bias=False)(h)))
            h = relu_in(h + r)
        s = h.shape[1]
        pyramid = [h]
        for b in self.bins:  # pyramid pooling: pooled to about b x b, 1 channel, back up
            p = conv(1, 1)(avg_pool(h, max(1, s // b)))
            pyramid.append(jax.image.resize(p, (p.shape[0], s, s, 1), "bilinear"))
        h = jnp.concatenate(pyramid, axis=-1)
        up = h.shape[-1]  # nf + one channel per bin: the original halves that width, not nf
        h = relu_in(conv(up // 2, 3, use_bias=False)(upsample(h)))
        h = relu_in(conv(up // 4, 3, use_bias=False)(upsample(h)))
        out = conv(1 if self.regions == 2 else self.regions, 7, padding="VALID")(reflect_pad(h, 3))
        if self.regions == 2:
            m = nn.sigmoid(out[..., 0])
            return jnp.stack([m, 1.0 - m], axis=1)
        return jnp.moveaxis(nn.softmax(out, axis=-1), -1, 1)


class ConditionalNorm(nn.Module):
    """Instance norm without affine terms, then ``* gamma(z) + beta(z)``."""

    @nn.compact
    def __call__(self, x: Array, z: Array) -> Array:
        c = x.shape[-1]
        gamma = nn.Dense(c, kernel_init=ORTHO)(z)[:, None, None]
        beta = nn.Dense(c, kernel_init=ORTHO)(z)[:, None, None]
        return instance_norm(x, affine=False) * gamma + beta


class RegionGenerator(nn.Module):
    """G_k: ``(mask [B, S, S], z [B, Z]) -> tanh(.) * mask`` ``[B, S, S, 3]``; upsampling
    residual blocks from 4x4 with conditional instance norm, the mask (average-pooled to
    each resolution) concatenated before every block and the output conv."""

    image_size: int = 128
    nf: int = 64

    @nn.compact
    def __call__(self, mask: Array, z: Array, update: bool) -> Array:
        blocks = (self.image_size // 4).bit_length() - 1  # 4 -> S
        width = self.nf * 2 ** (blocks - 1)
        x = nn.Dense(4 * 4 * width, kernel_init=ORTHO)(z).reshape(-1, 4, 4, width)
        m = mask[..., None]
        for k in range(blocks):
            out = max(self.nf, width // 2) if k else width
            pooled = avg_pool(m, self.image_size // x.shape[1])
            h = nn.relu(ConditionalNorm()(x, z))
            h = SNConv(out, use_bias=False)(upsample(jnp.concatenate([h, pooled], -1)), update)
            h = SNConv(out)(nn.relu(ConditionalNorm()(h, z)), update)
            x = h + SNConv(out, 1)(upsample(x), update)
            width = out
        h = jnp.concatenate([nn.relu(ConditionalNorm()(x, z)), m], -1)
        return jnp.tanh(SNConv(3)(h, update)) * m


class ResidualEncoder(nn.Module):
    """D (``outputs=1``) and delta (``outputs=n * Z``): spectrally normalised residual
    blocks halving the resolution down to 4x4, a last block, sum pooling, linear."""

    outputs: int = 1
    nf: int = 64

    @nn.compact
    def __call__(self, x: Array, update: bool) -> Array:
        h = SNConv(self.nf)(nn.relu(SNConv(self.nf)(x, update)), update)
        x = avg_pool(h, 2) + SNConv(self.nf, 1)(avg_pool(x, 2), update)
        width = self.nf
        while x.shape[1] > 4:
            out = 2 * width
            h = SNConv(out)(nn.relu(SNConv(out)(nn.relu(x), update)), update)
            x = avg_pool(h, 2) + SNConv(out, 1)(avg_pool(x, 2), update)
            width = out
        x = x + SNConv(width)(nn.relu(SNConv(width)(nn.relu(x), update)), update)
        x = jnp.sum(x, axis=(1, 2))
        return nn.Dense(self.outputs, kernel_init=ORTHO)(x)
