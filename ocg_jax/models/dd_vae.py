"""The VAE of Disentangling Disentanglement (Mathieu, Rainforth, Siddharth, Teh; ICML 2019).

Trained by the ``elbo`` recipe on ``E_q[log p(x|z)] - beta KL(q(z|x) || p(z))
- alpha D(q(z), p(z))``: the per-example terms ``nll`` and ``kl`` come from the
model (KL in closed form for Gaussian priors, else one Monte-Carlo sample), and
``D`` is the batch regulariser ``divergence`` (``ocg_jax.objectives.divergences``)
weighted by ``config.regularizers.divergence`` (alpha).  Priors:
``ocg_jax.objectives.priors``.

Two networks, as in the paper's code:
  * ``data="image"`` (dSprites, 64x64x1): four 4x4 stride-2 convs (32, 32, 64, 64) with
    ReLU, a linear layer (128), heads for the mean and ``std = exp(raw / 2) + 1e-6``; the
    decoder (linear 128, linear to 64x4x4, 4x4 stride-2 transposed convs to 64, 64, 32
    and the image's channels, as the original's ``Dec``) gives Bernoulli logits: 547,189
    parameters in all, the original's count.
  * ``data="point"`` (pinwheel, 2-D): an MLP 2-100-D encoder (``std = softplus +
    1e-6``) and a D-100-2 decoder giving a Gaussian mean and softplus std.

Shapes: B batch, D latents (``latent``).
"""

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from numpyro import distributions as dist

from ocg_jax.models.base import Array, InputSpec, LinenFamily, PointSpec, Variables, sample_fn
from ocg_jax.nn.dcgan import DCGANDecoder, DCGANEncoder
from ocg_jax.nn.layers import StridedConv, UpConv4
from ocg_jax.objectives.divergences import DIVERGENCES, aggregate_divergence
from ocg_jax.objectives.kl import gaussian_kl, gaussian_log_prob
from ocg_jax.objectives.priors import (
    PriorSpec,
    anisotropic_scales,
    has_closed_form_kl,
    prior_distribution,
)
from ocg_jax.viz import latents as latent_pictures

EPS = 1e-6  # the original's Constants.eta on posterior scales
DATA = ("image", "point")
ARCHS = ("conv", "dcgan")
LIKELIHOODS = ("bernoulli", "laplace")


def clamp(x: Array) -> Array:
    """Pixels in ``[eta, 1 - eta]``, as the original clamps its Fashion-MNIST."""
    return jnp.clip(x, EPS, 1.0 - EPS)


@struct.dataclass
class DDOutputs:
    recon: Array  # [B, ...] decoder mean: pixel probabilities, or point means
    z: Array  # [B, D] posterior sample (prior sample in ``sample``)
    z_mean: Array  # [B, D]
    z_std: Array  # [B, D]
    prior_log_variances: Array  # [D] the anisotropic prior's (learned) relative log-variances
    losses: dict[str, Array]  # per example [B]: nll, kl


class ConvEncoder(nn.Module):
    channels: Sequence[int]
    dense: int
    latent: int

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        for c in self.channels:
            x = nn.relu(StridedConv(c, (4, 4), padding=((1, 1), (1, 1)))(x))
        h = nn.Dense(self.dense)(x.reshape(x.shape[0], -1))  # linear, as the original
        mean, raw = nn.Dense(self.latent)(h), nn.Dense(self.latent)(h)
        return mean, jnp.exp(0.5 * raw) + EPS


class ConvDecoder(nn.Module):
    image_size: int
    out_channels: int
    channels: Sequence[int]  # the transposed convs' outputs before the last (64, 64, 32)
    dense: int
    top: int = 64  # channels of the map the linear layers make (the encoder's last)

    @nn.compact
    def __call__(self, z: Array) -> Array:
        """``[B, D] -> [B, S, S, C]`` Bernoulli logits."""
        side = self.image_size // 2 ** (len(self.channels) + 1)
        h = nn.relu(nn.Dense(self.dense)(z))
        h = nn.relu(nn.Dense(self.top * side * side)(h)).reshape(z.shape[0], side, side, self.top)
        outs = [*self.channels, self.out_channels]
        for i, c in enumerate(outs):
            h = UpConv4(c)(h)  # PyTorch's ConvTranspose2d(4, stride 2, padding 1)
            h = nn.relu(h) if i < len(outs) - 1 else h
        return h


class DDNet(nn.Module):
    """Encoder, prior, decoder; ``prior`` a ``PriorSpec`` (or its dict), ``divergence`` the
    estimator of D (``"kl"`` or ``"mmd"``) the family's batch regulariser uses."""

    data: str = "image"
    image_size: int = 64
    channels: int = 1  # image channels
    point_dim: int = 2
    latent: int = 10
    enc_channels: Sequence[int] = (32, 32, 64, 64)
    dec_channels: Sequence[int] = (64, 64, 32)  # the original's Dec: 64 -> 64 -> 64 -> 32 -> C
    dense: int = 128
    hidden: int = 100  # point MLPs
    prior: PriorSpec | dict = PriorSpec()
    divergence: str = "kl"
    compute_dtype: str = "float32"
    arch: str = "conv"  # images: "conv" (dSprites) or "dcgan" (Fashion-MNIST, batch norm)
    nf: int = 32  # dcgan widths (the original's fBase)
    likelihood: str = "bernoulli"  # images: or "laplace" (scale laplace_scale, as the original)
    laplace_scale: float = 0.1
    num_samples: int = 1  # K posterior samples per image in the ELBO (the original's --K)

    @property
    def prior_spec(self) -> PriorSpec:
        return PriorSpec.parse(self.prior)

    def check(self) -> None:
        """Clear errors for settings the network cannot take."""
        if self.data not in DATA:
            raise ValueError(f"data must be one of {DATA}, got {self.data!r}")
        for name, known in (("arch", ARCHS), ("likelihood", LIKELIHOODS)):
            if getattr(self, name) not in known:
                raise ValueError(f"{name} must be one of {known}, got {getattr(self, name)!r}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.arch == "dcgan" and self.image_size != 32:
            raise ValueError(f"the dcgan networks take 32x32 images, got {self.image_size}")
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"divergence must be one of {DIVERGENCES}, got {self.divergence!r}")
        if self.data == "image" and self.image_size % 2 ** len(self.enc_channels):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2^{len(self.enc_channels)}"
            )
        self.prior_spec.check(self.latent)

    def setup(self):
        spec = self.prior_spec
        init = spec.default_log_variances(self.latent)
        self.prior_log_variances = self.param(
            "prior_log_variances", lambda *_: jnp.asarray(init), (self.latent,)
        )
        if self.data == "image" and self.arch == "dcgan":
            self.encoder = DCGANEncoder(self.latent, self.nf)
            self.decoder = DCGANDecoder(self.channels, self.nf)
        elif self.data == "image":
            self.encoder = ConvEncoder(self.enc_channels, self.dense, self.latent)
            self.decoder = ConvDecoder(
                self.image_size, self.channels, self.dec_channels, self.dense, self.enc_channels[-1]
            )
        else:
            self.enc_hidden = nn.Dense(self.hidden)
            self.enc_mean, self.enc_std = nn.Dense(self.latent), nn.Dense(self.latent)
            self.dec_hidden = nn.Dense(self.hidden)
            self.dec_mean, self.dec_std = nn.Dense(self.point_dim), nn.Dense(self.point_dim)

    def log_variances(self) -> Array:
        """``[D]``: the anisotropic prior's relative log-variances (frozen unless learned)."""
        lv = self.prior_log_variances
        return lv if self.prior_spec.learn else jax.lax.stop_gradient(lv)

    def encode(self, x: Array, train: bool = False) -> tuple[Array, Array]:
        if self.data == "image" and self.arch == "dcgan":
            return self.encoder(clamp(x), train)
        if self.data == "image":
            return self.encoder(x)
        h = nn.relu(self.enc_hidden(x))
        return self.enc_mean(h), nn.softplus(self.enc_std(h)) + EPS

    def decode(self, z: Array, train: bool = False) -> tuple[Array, Array | None]:
        """Bernoulli logits or a Laplace location (images), a Gaussian's mean and std (points)."""
        if self.data == "image" and self.arch == "dcgan":
            return self.decoder(z, train), None
        if self.data == "image":
            return self.decoder(z), None
        h = nn.relu(self.dec_hidden(z))
        return self.dec_mean(h), nn.softplus(self.dec_std(h)) + EPS

    def log_likelihood_terms(self, x: Array, out: Array, out_std) -> tuple[Array, Array]:
        """``(log p(x | z) [B], reconstruction [B, ...])`` of decoder outputs ``out``."""
        if self.data == "point":
            return gaussian_log_prob(x, out, out_std).sum(-1), out
        if self.likelihood == "laplace":  # the original's Fashion-MNIST: scale 0.1, x clamped
            b = self.laplace_scale
            log_p = -jnp.abs(clamp(x) - out) / b - jnp.log(2 * b)
            return log_p.sum(axis=(1, 2, 3)), jnp.clip(out, 0.0, 1.0)
        log_p = x * jax.nn.log_sigmoid(out) + (1 - x) * jax.nn.log_sigmoid(-out)
        return log_p.sum(axis=(1, 2, 3)), jax.nn.sigmoid(out)

    def __call__(self, x: Array, *, train: bool) -> DDOutputs:
        mean, std = self.encode(x, train)
        k, b = self.num_samples, x.shape[0]
        eps = jax.random.normal(self.make_rng("sample"), (k, *mean.shape))
        zs = mean[None] + std[None] * eps  # [K, B, D]
        out, out_std = self.decode(zs.reshape(k * b, -1), train)
        log_px, recon = self.log_likelihood_terms(
            jnp.tile(x, (k,) + (1,) * (x.ndim - 1)), out, out_std
        )
        nll = -log_px.reshape(k, b).mean(0)  # the K-sample estimate (--K, the decomp objective)
        recon, z = recon[:b], zs[0]
        log_var = self.log_variances()
        if has_closed_form_kl(self.prior_spec):
            scale = (
                anisotropic_scales(log_var, self.prior_spec.variance)
                if self.prior_spec.name == "anisotropic"
                else jnp.sqrt(self.prior_spec.variance)
            )
            kl = gaussian_kl(mean, std, 0.0, scale).sum(-1)
        else:  # Monte Carlo over the K reparameterised samples
            prior = prior_distribution(self.prior_spec, self.latent, log_var)
            log_q = gaussian_log_prob(zs, mean[None], std[None]).sum(-1)  # [K, B]
            kl = (log_q - prior.log_prob(zs)).mean(0)
        return DDOutputs(recon, z, mean, std, log_var, {"nll": nll, "kl": kl})

    def importance_log_likelihood(self, x: Array, k: int) -> Array:
        """``[B]``: log p(x) estimated with ``k`` importance samples from q(z|x) (the
        original's ``analyse --logp``: ``logsumexp_k(log p(x|z_k) + log p(z_k) - log
        q(z_k|x)) - log k``), in evaluation mode."""
        mean, std = self.encode(x)
        prior = prior_distribution(self.prior_spec, self.latent, self.log_variances())

        def weights(key):  # [B] one sample's log weight
            z = mean + std * jax.random.normal(key, mean.shape)
            out, out_std = self.decode(z)
            log_px, _ = self.log_likelihood_terms(x, out, out_std)
            return log_px + prior.log_prob(z) - gaussian_log_prob(z, mean, std).sum(-1)

        keys = jax.random.split(self.make_rng("sample"), k)
        log_w = jax.lax.map(weights, keys)  # [k, B], one sample at a time: bounded memory
        return jax.nn.logsumexp(log_w, axis=0) - jnp.log(k)

    def sample(self, num: int) -> DDOutputs:
        """``num`` decoder means of ``z ~ p(z)``."""
        log_var = self.log_variances()
        prior = prior_distribution(self.prior_spec, self.latent, log_var)
        z = prior.sample(self.make_rng("sample"), (num,))
        return self.sample_at(z)

    def sample_at(self, z: Array) -> DDOutputs:
        """Decoder means at given latents ``z [N, D]``."""
        out, _ = self.decode(z)
        if self.data == "image":
            recon = jnp.clip(out, 0.0, 1.0) if self.likelihood == "laplace" else jax.nn.sigmoid(out)
        else:
            recon = out
        zeros = jnp.zeros_like(z)
        return DDOutputs(recon, z, z, zeros, self.log_variances(), {})


@dataclasses.dataclass(frozen=True)
class DDVAE(LinenFamily):
    """The Disentangling Disentanglement VAE behind the model contract."""

    net: DDNet
    name: str = "dd_vae"
    kl_terms: tuple[str, ...] = ("kl",)
    evaluators: ClassVar[tuple[str, ...]] = (
        "scores", "disentanglement", "log_likelihood", "frechet", "probes",
    )  # fmt: skip

    def __post_init__(self):
        self.net.check()  # when the family is made, before any run directory is touched

    @property
    def input_spec(self) -> InputSpec | PointSpec:
        if self.net.data == "point":
            return PointSpec((self.net.point_dim,))
        return InputSpec((self.net.image_size, self.net.image_size, self.net.channels))

    def prior(self, variables: Variables) -> dist.Distribution:
        """The model's p(z) (with its learned variances)."""
        lv = variables["params"]["prior_log_variances"]
        return prior_distribution(self.net.prior_spec, self.net.latent, lv)

    def batch_regularizers(self) -> dict:
        """``{"divergence": D(q(z), p(z))}`` on the batch's posteriors."""
        spec, latent, name = self.net.prior_spec, self.net.latent, self.net.divergence

        def divergence(outputs: DDOutputs, variables, rng):
            del variables  # the prior's variances travel in the outputs (with their gradient)
            prior = prior_distribution(spec, latent, outputs.prior_log_variances)
            return aggregate_divergence(name, prior, outputs.z, outputs.z_mean, outputs.z_std, rng)

        return {"divergence": divergence}

    def features(self, outputs: DDOutputs, *, sample: bool = True) -> Array:
        """``[B, D]``: the posterior sample (or mean, ``sample=False``)."""
        return outputs.z if sample else outputs.z_mean

    def importance_log_likelihood(self, variables: Variables, inputs, rng, k: int) -> Array:
        """``[B]``: log p(x) by ``k`` importance samples (``DDNet.importance_log_likelihood``)."""
        with self._dtype():
            return self.net.apply(
                variables, inputs, k, rngs={"sample": rng}, method=DDNet.importance_log_likelihood
            )

    def decode_at(self, variables: Variables, z: Array) -> Array:
        """Decoder means at latents ``z [N, D]``."""
        return self.net.apply(variables, z, method=DDNet.sample_at).recon

    def pictures(self, variables: Variables, batch: dict, outputs: DDOutputs, rng, num: int = 8):
        """The run's pictures (``ocg_jax.viz.latents``)."""
        samples = sample_fn(self)(variables, rng, num)
        if self.net.data == "point":
            return latent_pictures.point_pictures(self, variables, batch, outputs, samples)
        return latent_pictures.image_pictures(self, variables, batch, outputs, samples, num)
