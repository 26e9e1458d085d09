"""The single-latent VAE baselines of the GENESIS paper: DC-VAE and BD-VAE.

Shapes: B batch, H x W x 3 images, D = 64 latents.  The encoder is GENESIS's
gated-conv mask encoder without normalisation; the likelihood a Gaussian with
fixed sigma around the sigmoid output; the KL is analytic against N(0, I).
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax.models.base import Array, LinenFamily
from ocg_jax.nn.broadcast import BroadcastDecoder
from ocg_jax.nn.conv import GatedConvEncoder, GatedDeconvDecoder
from ocg_jax.nn.layers import elu
from ocg_jax.objectives.kl import analytic_kl_std_normal, gaussian_log_prob

DECODERS = ("deconv", "broadcast")


@struct.dataclass
class VAEOutputs:
    recon: Array  # [B, H, W, 3]  decoder mean
    z: Array  # [B, D]  posterior sample (prior sample in ``sample``)
    z_mean: Array  # [B, D]
    losses: dict[str, Array]  # per example [B]: nll, kl


class VAENet(nn.Module):
    """Encoder -> ``z`` -> decoder; ``decoder`` is ``"deconv"`` (DC-VAE) or
    ``"broadcast"`` (BD-VAE)."""

    image_size: int = 64
    decoder: str = "deconv"
    latent: int = 64
    sigma: float = 0.7
    enc_channels: Sequence[int] = (32, 32, 64, 64, 64)
    enc_strides: Sequence[int] = (1, 2, 1, 2, 1)
    dec_channels: Sequence[int] = (64, 32, 32, 32, 32)  # DC-VAE; strides mirror enc's
    compute_dtype: str = "float32"  # "bfloat16": convs and matmuls (mixed precision)
    bd_hidden: int = 64  # BD-VAE: broadcast decoder width, depth and output channels
    bd_layers: int = 4
    bd_outputs: int = 64

    def setup(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        self.encoder = GatedConvEncoder(self.enc_channels, self.enc_strides, 256, norm=False)
        self.head = nn.Dense(2 * self.latent)
        if self.decoder == "deconv":
            self.dec = GatedDeconvDecoder(
                self.image_size,
                self.dec_channels,
                tuple(self.enc_strides)[::-1],
                base_channels=self.enc_channels[-1],
                out_channels=3,
                norm=False,
            )
        else:
            self.dec = BroadcastDecoder(
                self.image_size, self.bd_outputs, hidden=self.bd_hidden, num_layers=self.bd_layers
            )
            self.to_rgb = nn.Conv(3, (1, 1))

    def _decode(self, z: Array) -> Array:
        """``[B, D] -> [B, H, W, 3]`` in (0, 1)."""
        if self.decoder == "deconv":
            return nn.sigmoid(self.dec(z, train=False))
        return nn.sigmoid(self.to_rgb(elu(self.dec(z))))

    def __call__(self, x: Array, *, train: bool) -> VAEOutputs:
        """``x [B, H, W, 3]`` in [0, 1] -> outputs with per-example losses."""
        mean, raw = jnp.split(self.head(self.encoder(x, train=train)), 2, axis=-1)
        std = nn.softplus(raw + 0.5) + 1e-8
        z = mean + std * jax.random.normal(self.make_rng("sample"), mean.shape, x.dtype)
        recon = self._decode(z)
        nll = -gaussian_log_prob(x, recon, self.sigma).sum(axis=(1, 2, 3))
        kl = analytic_kl_std_normal(mean, std).sum(axis=-1)
        return VAEOutputs(recon, z, mean, {"nll": nll, "kl": kl})

    def sample(self, num: int) -> VAEOutputs:
        """``num`` images decoded from ``z ~ N(0, I)``."""
        z = jax.random.normal(self.make_rng("sample"), (num, self.latent))
        return VAEOutputs(self._decode(z), z, jnp.zeros_like(z), {})


@dataclasses.dataclass(frozen=True)
class VAE(LinenFamily):
    """DC-VAE / BD-VAE behind the model contract (``ocg_jax.models.base``)."""

    net: VAENet
    name: str = "dc_vae"
    kl_terms: tuple[str, ...] = ("kl",)

    def features(self, outputs: VAEOutputs, *, sample: bool = True) -> Array:
        """``[B, D]``: the posterior sample (or mean, ``sample=False``)."""
        return outputs.z if sample else outputs.z_mean
