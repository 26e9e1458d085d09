"""MONet (Burgess et al. 2019) as the GENESIS paper reimplemented it.

Shapes: B batch, K components, H x W x 3 images, Dc = 16 component latents.
An attention U-Net run K-1 times (a ``nn.scan`` over the scope) splits the
image into stick-breaking masks; a component VAE encodes each (image, mask)
pair and decodes RGB and a mask logit; the decoded masks are a softmax over K.
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax.models.base import Array, LinenFamily
from ocg_jax.nn.broadcast import BroadcastDecoder
from ocg_jax.nn.conv import ComponentEncoder
from ocg_jax.nn.unet import UNet
from ocg_jax.objectives.kl import analytic_kl_std_normal
from ocg_jax.objectives.mixture import mixture_nll

#: masks are clamped here before the categorical KL, as in the GENESIS code
MASK_FLOOR = 1e-5


@struct.dataclass
class MonetOutputs:
    recon: Array  # [B, H, W, 3]  sum_k m_k * x_k with the attention masks
    log_masks: Array  # [B, K, H, W, 1]  attention masks (decoded masks in ``sample``)
    log_masks_decoded: Array  # [B, K, H, W, 1]  the component VAE's masks
    components: Array  # [B, K, H, W, 3]
    zc: Array  # [B, K, Dc]
    zc_mean: Array  # [B, K, Dc]
    losses: dict[str, Array]  # per example [B]: nll, kl_m, kl_c


class AttentionStep(nn.Module):
    """One recursive attention step: ``log scope -> (log scope', log mask)``, each
    ``[B, H, W, 1]``, from the U-Net on ``[x, log scope]``."""

    channels: Sequence[int]

    @nn.compact
    def __call__(self, log_scope: Array, x: Array):
        logits = UNet(self.channels)(jnp.concatenate([x, log_scope], axis=-1))
        return log_scope + jax.nn.log_sigmoid(-logits), log_scope + jax.nn.log_sigmoid(logits)


def categorical_kl(log_p: Array, log_q: Array, floor: float = MASK_FLOOR) -> Array:
    """``sum_k p_k (log p_k - log q_k)`` over axis 1 with both clamped at ``floor``; the
    input shape without axis 1."""
    log_p = jnp.maximum(log_p, jnp.log(floor))
    log_q = jnp.maximum(log_q, jnp.log(floor))
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=1)


def compose(log_masks: Array, components: Array) -> Array:
    """``[B, K, H, W, 1], [B, K, H, W, 3] -> [B, H, W, 3]``."""
    return jnp.sum(jnp.exp(log_masks) * components, axis=1)


class MonetNet(nn.Module):
    """The MONet network.  ``sigma`` is the likelihood std of every component; with
    ``bg_sigma`` set, the first (background) component uses it instead (Burgess et
    al.: 0.09 and 0.11)."""

    image_size: int = 64
    num_slots: int = 5
    zc_dim: int = 16
    sigma: float = 0.7
    bg_sigma: float | None = None
    unet_channels: Sequence[int] = (32, 32, 64, 64, 64)
    dec_hidden: int = 32
    dec_layers: int = 4
    compute_dtype: str = "float32"  # "bfloat16": convs and matmuls (mixed precision)

    def setup(self):
        if self.num_slots < 2:
            raise ValueError(f"num_slots must be >= 2, got {self.num_slots}")
        blocks = self.image_size.bit_length() - 2  # log2(H) - 1: a 4x4 bottleneck
        if 2 ** (blocks + 1) != self.image_size or len(self.unet_channels) < blocks:
            raise ValueError(
                f"MONet needs a power-of-two image size and {blocks} U-Net channels at "
                f"{self.image_size}px, got {self.image_size} and {tuple(self.unet_channels)}"
            )
        scan = nn.scan(
            AttentionStep,
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=nn.broadcast,
            length=self.num_slots - 1,
            # unrolled: inside a while loop XLA:CPU leaves the U-Net's weight-gradient convs in
            # a generic kernel (MONet b4 step 8.9 s); unrolled they get the fast Eigen layout
            unroll=self.num_slots - 1,
        )
        # the last ``blocks`` widths, as the original's U-Net: 32,64,64,64 down (64,64,32,32
        # up) at 32 px from the 5-block 32,32,64,64,64
        self.attention = scan(tuple(self.unet_channels[-blocks:]))
        self.encoder = ComponentEncoder(self.zc_dim, activation=nn.relu)
        self.decoder = BroadcastDecoder(
            self.image_size,
            4,
            hidden=self.dec_hidden,
            num_layers=self.dec_layers,
            activation=nn.relu,
        )

    def _decode(self, zc: Array):
        """``zc [B, K, Dc] -> (components [B, K, H, W, 3], log masks [B, K, H, W, 1])``."""
        b, k, d = zc.shape
        out = self.decoder(zc.reshape(b * k, d)).reshape(b, k, self.image_size, self.image_size, 4)
        return nn.sigmoid(out[..., :3]), jax.nn.log_softmax(out[..., 3:], axis=1)

    def _sigma(self) -> float | Array:
        if self.bg_sigma is None:
            return self.sigma
        return jnp.array([self.bg_sigma] + [self.sigma] * (self.num_slots - 1))

    def __call__(self, x: Array, *, train: bool) -> MonetOutputs:
        """``x [B, H, W, 3]`` in [0, 1] -> outputs with per-example losses."""
        del train  # no batch statistics
        b, k = x.shape[0], self.num_slots
        last, log_ms = self.attention(jnp.zeros((*x.shape[:3], 1), x.dtype), x)
        log_masks = jnp.concatenate([jnp.moveaxis(log_ms, 0, 1), last[:, None]], axis=1)

        images = jnp.broadcast_to(x[:, None], (b, k, *x.shape[1:]))
        enc_in = jnp.concatenate([images, log_masks], axis=-1)  # [B, K, H, W, 4]
        mean, std = self.encoder(enc_in.reshape(b * k, *enc_in.shape[2:]))
        mean, std = mean.reshape(b, k, -1), std.reshape(b, k, -1)
        zc = mean + std * jax.random.normal(self.make_rng("sample"), mean.shape, x.dtype)
        components, log_decoded = self._decode(zc)
        losses = {
            "nll": mixture_nll(x, log_masks, components, self._sigma()),
            "kl_c": analytic_kl_std_normal(mean, std).sum(axis=(1, 2)),
            "kl_m": categorical_kl(log_masks, log_decoded).sum(axis=(1, 2, 3)),
        }
        recon = compose(log_masks, components)
        return MonetOutputs(recon, log_masks, log_decoded, components, zc, mean, losses)

    def sample(self, num: int) -> MonetOutputs:
        """``num`` scenes: ``z^c_k ~ N(0, I)``, composed with the decoded masks."""
        zc = jax.random.normal(self.make_rng("sample"), (num, self.num_slots, self.zc_dim))
        recon, log_masks, components = self.render(zc)
        return MonetOutputs(recon, log_masks, log_masks, components, zc, jnp.zeros_like(zc), {})

    def render(self, zc: Array):
        """The component decoder alone, composed with its own masks: ``zc [B, K, Dc] ->
        (image [B, H, W, 3], log masks [B, K, H, W, 1], components [B, K, H, W, 3])``."""
        components, log_masks = self._decode(zc)
        return compose(log_masks, components), log_masks, components


@dataclasses.dataclass(frozen=True)
class Monet(LinenFamily):
    """MONet behind the model contract (``ocg_jax.models.base``)."""

    net: MonetNet
    name: str = "monet"
    kl_terms: tuple[str, ...] = ("kl_m", "kl_c")

    def features(self, outputs: MonetOutputs, *, sample: bool = True) -> Array:
        """``[B, K * Dc]``: every component's posterior sample (or mean, ``sample=False``)."""
        z = outputs.zc if sample else outputs.zc_mean
        return z.reshape(z.shape[0], -1)
