"""GENESIS and GENESIS-S (Engelcke et al., ICLR 2020).

Shapes: B batch, K components, H x W x 3 images, Dm = 64 mask latents,
Dc = 16 component latents.  Components are kept batch-major (``[B, K, ...]``)
so that ``[B * K, ...]`` decoder batches stay sharded on the batch axis.
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax.models.base import Array, LinenFamily
from ocg_jax.nn.broadcast import BroadcastDecoder
from ocg_jax.nn.conv import ComponentEncoder, GatedConvEncoder, GatedDeconvDecoder
from ocg_jax.nn.layers import elu
from ocg_jax.nn.recurrent import GaussianLSTM
from ocg_jax.objectives.kl import mc_kl
from ocg_jax.objectives.mixture import mixture_nll, stick_breaking


@struct.dataclass
class GenesisOutputs:
    recon: Array  # [B, H, W, 3]  sum_k m_k * x_k
    log_masks: Array  # [B, K, H, W, 1]
    components: Array  # [B, K, H, W, 3]
    zm: Array  # [B, K, Dm]  mask latents (posterior samples, or prior samples)
    zm_mean: Array  # [B, K, Dm]
    zc: Array | None  # [B, K, Dc]; None for GENESIS-S
    zc_mean: Array | None  # [B, K, Dc]
    losses: dict[str, Array]  # per example [B]: nll, kl_m (, kl_c)


class ComponentPrior(nn.Module):
    """``p(z^c | z^m)``: ``[..., Dm] -> (mean, std)`` each ``[..., latent]``."""

    latent: int = 16

    @nn.compact
    def __call__(self, zm: Array):
        x = elu(nn.Dense(256)(zm))
        x = elu(nn.Dense(256)(x))
        mean, raw = jnp.split(nn.Dense(2 * self.latent)(x), 2, axis=-1)
        return jnp.tanh(mean), nn.sigmoid(raw + 4.0) + 1e-4


class GenesisNet(nn.Module):
    """The GENESIS / GENESIS-S network; ``variant`` selects which."""

    image_size: int = 64
    num_slots: int = 5
    zm_dim: int = 64
    zc_dim: int = 16
    variant: str = "genesis"  # "genesis" | "genesis_s"
    sigma: float = 0.7
    enc_channels: Sequence[int] = (32, 32, 64, 64, 64)
    enc_strides: Sequence[int] = (1, 2, 1, 2, 1)
    dec_channels: Sequence[int] = (64, 32, 32, 32, 32)  # mask decoder; strides mirror enc's
    compute_dtype: str = "float32"  # "bfloat16": convs and matmuls (mixed precision)

    def setup(self):
        if self.variant not in ("genesis", "genesis_s"):
            raise ValueError(f"variant must be 'genesis' or 'genesis_s', got {self.variant!r}")
        if self.num_slots < 2:
            raise ValueError(f"num_slots must be >= 2, got {self.num_slots}")
        self.mask_encoder = GatedConvEncoder(self.enc_channels, self.enc_strides, 256)
        self.z1_head = nn.Dense(2 * self.zm_dim)
        self.posterior = GaussianLSTM(128, self.zm_dim, head="posterior")
        self.mask_prior = GaussianLSTM(256, self.zm_dim, head="prior")
        self.mask_decoder = GatedDeconvDecoder(
            self.image_size,
            self.dec_channels,
            tuple(self.enc_strides)[::-1],
            base_channels=self.enc_channels[-1],
            out_channels=1,
        )
        if self.variant == "genesis":
            self.comp_encoder = ComponentEncoder(self.zc_dim)
            self.comp_prior = ComponentPrior(self.zc_dim)
        self.comp_decoder = BroadcastDecoder(self.image_size, 3, hidden=32, num_layers=4)

    # -- pieces -------------------------------------------------------------
    def _decode_masks(self, zm: Array, train: bool) -> Array:
        """``zm [B, K, Dm] -> log_masks [B, K, H, W, 1]``.

        Only the first K-1 latents are decoded: the K-th mask is the remaining
        scope, so its logits would never be used (the original decodes all K).
        """
        b, k, d = zm.shape
        logits = self.mask_decoder(zm[:, :-1].reshape(b * (k - 1), d), train=train)
        logits = logits.reshape(b, k - 1, *logits.shape[1:])
        return jnp.moveaxis(stick_breaking(jnp.moveaxis(logits, 1, 0)), 0, 1)

    def _decode_appearance(self, z: Array) -> Array:
        """``z [B, K, D] -> [B, K, H, W, 3]`` in (0, 1)."""
        b, k, d = z.shape
        out = self.comp_decoder(z.reshape(b * k, d))
        return nn.sigmoid(out).reshape(b, k, *out.shape[1:])

    def _mask_prior(self, zm: Array):
        """Prior ``(mean, std)`` ``[B, K, Dm]`` of each ``z^m_k`` given ``z^m_{<k}``."""
        mean, std = self.mask_prior.teacher_forced(jnp.moveaxis(zm[:, :-1], 1, 0))
        b = zm.shape[0]
        mean0 = jnp.zeros((b, 1, self.zm_dim), zm.dtype)
        return (
            jnp.concatenate([mean0, jnp.moveaxis(mean, 0, 1)], axis=1),
            jnp.concatenate([jnp.ones_like(mean0), jnp.moveaxis(std, 0, 1)], axis=1),
        )

    # -- inference ------------------------------------------------------------
    def __call__(self, x: Array, *, train: bool) -> GenesisOutputs:
        """``x [B, H, W, 3]`` in [0, 1] -> outputs with per-example losses."""
        b, k = x.shape[0], self.num_slots
        key_m, key_c = jax.random.split(self.make_rng("sample"))
        h = self.mask_encoder(x, train=train)  # [B, 256]

        # recurrent posterior over mask latents, z^m_1 from linear heads on h
        eps = jax.random.normal(key_m, (k, b, self.zm_dim), x.dtype)
        mean1, raw1 = jnp.split(self.z1_head(h), 2, axis=-1)
        std1 = nn.softplus(raw1 + 0.5) + 1e-8
        z1 = mean1 + std1 * eps[0]
        zr, meanr, stdr = self.posterior.sample(z1, eps[1:], context=h)  # [K-1, B, Dm]
        zm = jnp.concatenate([z1[:, None], jnp.moveaxis(zr, 0, 1)], axis=1)  # [B, K, Dm]
        qm_mean = jnp.concatenate([mean1[:, None], jnp.moveaxis(meanr, 0, 1)], axis=1)
        qm_std = jnp.concatenate([std1[:, None], jnp.moveaxis(stdr, 0, 1)], axis=1)
        pm_mean, pm_std = self._mask_prior(zm)
        kl_m = mc_kl(zm, qm_mean, qm_std, pm_mean, pm_std).sum(axis=(1, 2))

        log_masks = self._decode_masks(zm, train)  # [B, K, H, W, 1]
        losses = {"kl_m": kl_m}
        zc = zc_mean = None
        if self.variant == "genesis":
            enc_in = jnp.concatenate(
                [log_masks, jnp.broadcast_to(x[:, None], (b, k, *x.shape[1:]))], axis=-1
            )
            zc_mean, zc_std = self.comp_encoder(enc_in.reshape(b * k, *enc_in.shape[2:]))
            zc_mean, zc_std = zc_mean.reshape(b, k, -1), zc_std.reshape(b, k, -1)
            zc = zc_mean + zc_std * jax.random.normal(key_c, zc_mean.shape, x.dtype)
            pc_mean, pc_std = self.comp_prior(zm)
            losses["kl_c"] = mc_kl(zc, zc_mean, zc_std, pc_mean, pc_std).sum(axis=(1, 2))
            components = self._decode_appearance(zc)
        else:
            components = self._decode_appearance(zm)
        losses["nll"] = mixture_nll(x, log_masks, components, self.sigma)
        recon = jnp.sum(jnp.exp(log_masks) * components, axis=1)
        return GenesisOutputs(recon, log_masks, components, zm, qm_mean, zc, zc_mean, losses)

    # -- generation -----------------------------------------------------------
    def sample(self, num: int) -> GenesisOutputs:
        """``num`` scenes from the prior (tanh on the prior mean, unlike the original)."""
        k = self.num_slots
        key_m, key_c = jax.random.split(self.make_rng("sample"))
        eps = jax.random.normal(key_m, (k, num, self.zm_dim))
        zr, meanr, _ = self.mask_prior.sample(eps[0], eps[1:])
        zm = jnp.concatenate([eps[0][:, None], jnp.moveaxis(zr, 0, 1)], axis=1)
        zm_mean = jnp.concatenate([jnp.zeros_like(eps[0])[:, None], jnp.moveaxis(meanr, 0, 1)], 1)
        zc = zc_mean = None
        if self.variant == "genesis":
            zc_mean, zc_std = self.comp_prior(zm)
            zc = zc_mean + zc_std * jax.random.normal(key_c, zc_mean.shape)
        recon, log_masks, components = self.render(zm, zc)
        return GenesisOutputs(recon, log_masks, components, zm, zm_mean, zc, zc_mean, {})

    def render(self, zm: Array, zc: Array | None = None):
        """The decoders alone: ``zm [B, K, Dm]`` (and for GENESIS ``zc [B, K, Dc]``) ->
        ``(image [B, H, W, 3], log masks [B, K, H, W, 1], components [B, K, H, W, 3])``."""
        log_masks = self._decode_masks(zm, train=False)
        components = self._decode_appearance(zm if self.variant == "genesis_s" else zc)
        return jnp.sum(jnp.exp(log_masks) * components, axis=1), log_masks, components


@dataclasses.dataclass(frozen=True)
class Genesis(LinenFamily):
    """GENESIS / GENESIS-S behind the model contract (``ocg_jax.models.base``)."""

    net: GenesisNet
    name: str = "genesis"

    @property
    def kl_terms(self) -> tuple[str, ...]:
        return ("kl_m", "kl_c") if self.net.variant == "genesis" else ("kl_m",)

    def features(self, outputs: GenesisOutputs, *, sample: bool = True) -> Array:
        """``[B, D]``: z^m_{1..K-1} and z^c_{1..K} (GENESIS-S: all z^m), posterior samples as
        the original's ``get_features``, or posterior means with ``sample=False``."""
        zm, zc = (outputs.zm, outputs.zc) if sample else (outputs.zm_mean, outputs.zc_mean)
        b = zm.shape[0]
        if zc is None:
            return zm.reshape(b, -1)
        return jnp.concatenate([zm[:, :-1].reshape(b, -1), zc.reshape(b, -1)], axis=-1)
