"""ReDO's networks (Chen, Artières, Denoyer 2019): the mask network F, the region
generators G_k, the residual discriminator D and the latent-recovery network delta.

Images ``[B, S, S, 3]`` in [-1, 1], S = 32, 64 or 128 (32: short CPU runs); n regions;
z ``[B, n, Z]``.
Widths are parameters (the paper: 64 each, F 64 with 3 residual blocks); every
conv and dense layer's kernel starts orthogonal with gain 0.8, as the original's
``weights_init_ortho``, and its bias as PyTorch's default, ``U(+-1/sqrt(fan_in))`` (the
original leaves biases there: G's gamma and beta start near U(+-0.18) for z of 32).
F's stride-2 convs pad (1, 1) as PyTorch's ``padding=1`` with ``torch_padding`` (the
configs' setting; False, XLA's SAME (0, 1), reads runs made before it).  Spectral
normalisation (D, delta and the generators' convs, as the original) keeps its
power-iteration vectors in ``batch_stats``; ``update`` advances them (training), else
they are read.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
ORTHO = nn.initializers.orthogonal(0.8)


def torch_bias(fan_in: int):
    """PyTorch's default bias init of a layer with ``fan_in`` inputs: ``U(+-1/sqrt(fan_in))``."""
    bound = 1.0 / float(fan_in) ** 0.5
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound
    )


def conv(features: int, kernel: int, fan_in: int, stride: int = 1, use_bias=True, padding="SAME"):
    """A conv as the original's: orthogonal kernel, PyTorch's bias; ``fan_in`` is the input
    channels."""
    return nn.Conv(
        features, (kernel, kernel), stride, padding=padding, use_bias=use_bias, kernel_init=ORTHO,
        bias_init=torch_bias(fan_in * kernel * kernel),
    )  # fmt: skip


def dense(features: int, fan_in: int):
    return nn.Dense(features, kernel_init=ORTHO, bias_init=torch_bias(fan_in))


class SNConv(nn.Module):
    """A spectrally normalised conv."""

    features: int
    kernel: int = 3
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array, update: bool) -> Array:
        layer = conv(self.features, self.kernel, x.shape[-1], use_bias=self.use_bias)
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
    torch_padding: bool = False  # stride-2 convs padded (1, 1), as the original

    @nn.compact
    def __call__(self, x: Array) -> Array:
        relu_in = lambda h: nn.relu(instance_norm(h))
        down = ((1, 1), (1, 1)) if self.torch_padding else "SAME"
        h = conv(self.nf // 4, 7, x.shape[-1], use_bias=False, padding="VALID")(reflect_pad(x, 3))
        h = relu_in(h)
        h = relu_in(conv(self.nf // 2, 3, h.shape[-1], 2, False, padding=down)(h))
        h = relu_in(conv(self.nf, 3, h.shape[-1], 2, False, padding=down)(h))
        for _ in range(self.num_res):
            r = conv(self.nf, 3, self.nf)(relu_in(conv(self.nf, 3, self.nf, use_bias=False)(h)))
            h = relu_in(h + r)
        s = h.shape[1]
        pyramid = [h]
        for b in self.bins:  # pyramid pooling: pooled to about b x b, 1 channel, back up
            p = conv(1, 1, h.shape[-1])(avg_pool(h, max(1, s // b)))
            pyramid.append(jax.image.resize(p, (p.shape[0], s, s, 1), "bilinear"))
        h = jnp.concatenate(pyramid, axis=-1)
        up = h.shape[-1]  # nf + one channel per bin: the original halves that width, not nf
        h = relu_in(conv(up // 2, 3, up, use_bias=False)(upsample(h)))
        h = relu_in(conv(up // 4, 3, up // 2, use_bias=False)(upsample(h)))
        outputs = 1 if self.regions == 2 else self.regions
        out = conv(outputs, 7, h.shape[-1], padding="VALID")(reflect_pad(h, 3))
        if self.regions == 2:
            m = nn.sigmoid(out[..., 0])
            return jnp.stack([m, 1.0 - m], axis=1)
        return jnp.moveaxis(nn.softmax(out, axis=-1), -1, 1)


class ConditionalNorm(nn.Module):
    """Instance norm without affine terms, then ``* gamma(z) + beta(z)``."""

    @nn.compact
    def __call__(self, x: Array, z: Array) -> Array:
        c = x.shape[-1]
        gamma = dense(c, z.shape[-1])(z)[:, None, None]  # the original's 1x1 convs of z
        beta = dense(c, z.shape[-1])(z)[:, None, None]
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
        x = dense(4 * 4 * width, z.shape[-1])(z).reshape(-1, 4, 4, width)
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
        return dense(self.outputs, x.shape[-1])(x)
