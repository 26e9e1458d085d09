"""The DCGAN-style encoder and decoder of Disentangling Disentanglement's Fashion-MNIST VAE
(32x32x1 images, ``nf`` = the original's ``fBase``, 32).

Encoder: 4x4 stride-2 convs (nf, 2 nf, 4 nf; no biases) with leaky ReLU (0.2) and batch
norm after the second and third, then two 4x4 valid convs to the latent mean and the
softplus scale (+1e-6).  Decoder: a 4x4 transposed conv from the latent to a 4x4 map of
4 nf, then 4x4 stride-2 transposed convs (2 nf, nf, C) with batch norm and ReLU between:
the output is the likelihood's location.  Kernels start ``N(0, 0.02^2)``, biases 0, as
the original.  Shapes: ``[B, 32, 32, C] -> [B, D]``, ``[B, D] -> [B, 32, 32, C]``.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.nn.layers import UpConv4

Array = jax.Array
INIT = nn.initializers.normal(0.02)
EPS = 1e-6


def _bn(train: bool):
    # PyTorch's BatchNorm2d: momentum 0.1 (flax: 0.9), eps 1e-5
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class DCGANEncoder(nn.Module):
    latent: int
    nf: int = 32

    @nn.compact
    def __call__(self, x: Array, train: bool) -> tuple[Array, Array]:
        pad = ((1, 1), (1, 1))
        h = nn.Conv(self.nf, (4, 4), 2, pad, use_bias=False, kernel_init=INIT)(x)
        h = nn.leaky_relu(h, 0.2)
        for width in (2 * self.nf, 4 * self.nf):
            h = nn.Conv(width, (4, 4), 2, pad, use_bias=False, kernel_init=INIT)(h)
            h = nn.leaky_relu(_bn(train)(h), 0.2)
        head = lambda: nn.Conv(self.latent, (4, 4), padding="VALID", kernel_init=INIT)  # noqa: E731
        mean = head()(h).reshape(x.shape[0], -1)
        scale = nn.softplus(head()(h).reshape(x.shape[0], -1)) + EPS
        return mean, scale


class DCGANDecoder(nn.Module):
    out_channels: int = 1
    nf: int = 32

    @nn.compact
    def __call__(self, z: Array, train: bool) -> Array:
        # ConvTranspose2d(D, 4 nf, 4, 1, 0) on a 1x1 map: a linear map to 4x4x4nf
        kernel = self.param("kernel", INIT, (z.shape[-1], 4 * 4 * 4 * self.nf))
        h = (z @ kernel).reshape(z.shape[0], 4, 4, 4 * self.nf)
        h = nn.relu(_bn(train)(h))
        for width in (2 * self.nf, self.nf):
            h = nn.relu(_bn(train)(UpConv4(width, use_bias=False, kernel_init=INIT)(h)))
        return UpConv4(self.out_channels, use_bias=False, kernel_init=INIT)(h).astype(jnp.float32)
