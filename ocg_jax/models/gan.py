"""A DCGAN-style GAN (Radford et al. 2016): the generator baseline of segment statistics
and layer-wise inversion (Bau et al. 2019).

Generator: ``z [B, Z] ~ N(0, I)`` -> dense to a 4x4 (or 2x2) map -> stride-2 4x4
transposed convs with batch norm and ReLU, doubling the size and halving the width,
-> ``tanh``: images ``[B, S, S, 3]`` in [-1, 1], S = 32 or 64 (layer-wise inversion adds
deltas to its layers' outputs from outside: ``ocg_jax.analysis.inversion``).
Discriminator: stride-2 4x4 convs with leaky ReLU down to 4x4, then linear; spectrally
normalised for the hinge loss, plain for WGAN-GP (whose gradient penalty replaces it).
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax import viz
from ocg_jax.models.base import Array, Family, InputSpec, Variables, sample_fn
from ocg_jax.nn.layers import UpConv4
from ocg_jax.objectives.adversarial import (
    gradient_penalty,
    hinge_discriminator_loss,
    hinge_generator_loss,
    wgan_discriminator_loss,
    wgan_generator_loss,
)

LOSSES = ("hinge", "wgan_gp")
COLLECTIONS = ("params", "batch_stats")  # the networks'; "ema*" hold the moving average


@struct.dataclass
class GANOutputs:
    recon: Array  # [B, S, S, 3] generated images in [-1, 1] (named as the VAEs' for samplers)
    z: Array  # [B, Z]


class Generator(nn.Module):
    image_size: int = 64
    z_dim: int = 128
    nf: int = 64
    first_width: int = 0  # the first stage's channels; 0: nf * S / (2 * first_size), as DCGAN
    first_size: int = 4  # the first stage's side: 4 as DCGAN, or 2 (one more up-sampling)

    @nn.compact
    def __call__(self, z: Array, train: bool) -> Array:
        """``[B, Z] -> [B, S, S, 3]``: ``first_size`` square at ``first_width`` (or
        ``nf * S / (2 first_size)``) channels, then halved per doubling (``nf * S / 16`` at
        8x8)."""
        bn = lambda h: nn.BatchNorm(not train, momentum=0.9, epsilon=1e-5)(h)
        ups = (self.image_size // self.first_size).bit_length() - 1  # first_size -> S
        top = self.nf * 2 ** (ups - 1)
        first, side = self.first_width or top, self.first_size
        h = nn.relu(bn(nn.Dense(side * side * first)(z).reshape(-1, side, side, first)))
        for i in range(1, ups):
            h = nn.relu(bn(UpConv4(top // 2**i)(h)))
        return jnp.tanh(UpConv4(3)(h))


class Discriminator(nn.Module):
    nf: int = 64
    spectral: bool = True

    @nn.compact
    def __call__(self, x: Array, update: bool = False, features: bool = False) -> Array:
        """``[B, S, S, 3] -> [B]`` scores (``features``: the last map flattened, ``[B, D]``)."""
        width = self.nf
        while x.shape[1] > 4:
            conv = nn.Conv(width, (4, 4), (2, 2), padding=((1, 1), (1, 1)))
            x = nn.SpectralNorm(conv)(x, update_stats=update) if self.spectral else conv(x)
            x = nn.leaky_relu(x, 0.2)
            width *= 2
        x = x.reshape(x.shape[0], -1)
        if features:
            return x
        dense = nn.Dense(1)
        out = nn.SpectralNorm(dense)(x, update_stats=update) if self.spectral else dense(x)
        return out[:, 0]


@dataclasses.dataclass(frozen=True)
class GANNet:
    """The settings (``config.model``): sizes, widths and the loss."""

    image_size: int = 64
    z_dim: int = 128
    nf_gen: int = 64
    nf_disc: int = 64
    first_width: int = 0  # the generator's first stage's channels; 0: DCGAN's rule
    first_size: int = 4  # that stage's side: 4 (DCGAN) or 2
    loss: str = "hinge"  # or "wgan_gp"
    gp_weight: float = 10.0

    def check(self) -> None:
        if self.image_size not in (32, 64):
            raise ValueError(f"the GAN's image_size must be 32 or 64, got {self.image_size}")
        if self.first_width < 0:
            raise ValueError(
                f"the GAN's first_width must be >= 0 (0: DCGAN's), got {self.first_width}"
            )
        if self.first_size not in (2, 4):
            raise ValueError(f"the GAN's first_size must be 2 or 4, got {self.first_size}")
        if self.loss not in LOSSES:
            raise ValueError(f"model.loss must be one of {LOSSES}, got {self.loss!r}")

    @property
    def generator(self) -> Generator:
        return Generator(self.image_size, self.z_dim, self.nf_gen,
                         first_width=self.first_width, first_size=self.first_size)  # fmt: skip

    @property
    def discriminator(self) -> Discriminator:
        return Discriminator(self.nf_disc, spectral=self.loss == "hinge")


@dataclasses.dataclass(frozen=True)
class GAN(Family):
    """The GAN behind the model contract, for the ``adversarial`` recipe: the discriminator
    (critic) phase, then the generator phase; ``config.adversarial.repeats.discriminator``
    gives WGAN-GP's several critic updates per generator update."""

    net: GANNet
    name: str = "gan"
    recipe: ClassVar[str] = "adversarial"
    groups: tuple[str, ...] = ("generator", "discriminator")
    phases: tuple = (("discriminator", ("discriminator",)), ("generator", ("generator",)))

    def __post_init__(self):
        self.net.check()

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, 3), low=-1.0, high=1.0)

    def noise(self, rng, b: int) -> Array:
        return jax.random.normal(rng, (b, self.net.z_dim))

    def _part(self, variables: Variables, group: str) -> Variables:
        return {k: v[group] for k, v in variables.items() if group in v and k in COLLECTIONS}

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        g_rng, d_rng, z_rng = jax.random.split(rng, 3)
        z = self.noise(z_rng, batch.shape[0])
        g = self.net.generator.init(g_rng, z, True)
        d = self.net.discriminator.init(d_rng, batch, True)
        return {
            k: {"generator": g.get(k, {}), "discriminator": d.get(k, {})}
            for k in ("params", "batch_stats")
        }

    def generate(self, variables: Variables, z: Array, train: bool = False):
        """``(images [B, S, S, 3], generator state)``; ``train`` uses batch statistics and
        the live parameters, else the running statistics and the parameters' moving average
        where the run keeps one (``config.adversarial.ema.generator``)."""
        v = self._part(variables, "generator")
        if train:
            x, state = self.net.generator.apply(v, z, True, mutable=["batch_stats"])
            return x, state["batch_stats"]
        if "generator" in variables.get("ema", {}):
            v = self._average(variables)
        return self.net.generator.apply(v, z, False), v.get("batch_stats", {})

    def _average(self, variables: Variables) -> Variables:
        """The generator's moving average with its own running statistics."""
        stats = variables.get("ema_batch_stats", {}).get("generator", {})
        return {"params": variables["ema"]["generator"], "batch_stats": stats}

    def _average_stats(self, variables: Variables, z: Array) -> dict:
        """``{"ema_batch_stats": ...}`` moved on ``z`` as training moves the live ones (BigGAN's
        standing statistics, kept as it trains); empty without a moving average."""
        if "generator" not in variables.get("ema", {}):
            return {}
        _, s = self.net.generator.apply(self._average(variables), z, True, mutable=["batch_stats"])
        return {"ema_batch_stats": {"generator": jax.lax.stop_gradient(s["batch_stats"])}}

    def discriminate(self, variables: Variables, x: Array, update: bool = False):
        """``(scores [B], discriminator state)``; ``update`` advances spectral norm."""
        v = self._part(variables, "discriminator")
        if update and "batch_stats" in v:
            d, state = self.net.discriminator.apply(v, x, True, mutable=["batch_stats"])
            return d, state["batch_stats"]
        return self.net.discriminator.apply(v, x, False), v.get("batch_stats", {})

    def phase_loss(self, phase: str, variables: Variables, images: Array, rng: Array):
        """``(loss, (metrics, model_state))`` of one phase on a real batch; fresh noise per
        phase (the phase's index folded into the step's key)."""
        index = [p for p, _ in self.phases].index(phase)
        z_rng, gp_rng = jax.random.split(jax.random.fold_in(rng, index))
        z = self.noise(z_rng, images.shape[0])
        fake, g_state = self.generate(variables, z, True)
        stats = dict(variables.get("batch_stats", {}))
        kept = {k: variables[k] for k in ("ema_batch_stats",) if k in variables}
        if phase == "discriminator":
            fake = jax.lax.stop_gradient(fake)
            # one call on real and fake: one spectral-norm estimate, differentiated for both
            both, d_state = self.discriminate(variables, jnp.concatenate([images, fake]), True)
            d_real, d_fake = jnp.split(both, 2)
            metrics = {"d_real": jnp.mean(d_real), "d_fake": jnp.mean(d_fake)}
            if self.net.loss == "hinge":
                loss = hinge_discriminator_loss(d_real, d_fake)
            else:
                critic = lambda x: self.discriminate(variables, x)[0]
                gp = gradient_penalty(critic, images, fake, gp_rng)
                loss = wgan_discriminator_loss(d_real, d_fake) + self.net.gp_weight * gp
                metrics["gradient_penalty"] = gp
            stats["discriminator"] = d_state
        else:
            d_fake, _ = self.discriminate(variables, fake)
            gen_loss = hinge_generator_loss if self.net.loss == "hinge" else wgan_generator_loss
            loss = gen_loss(d_fake)
            metrics = {}
            stats["generator"] = g_state
            kept |= self._average_stats(variables, z)
        return loss, (metrics, {"batch_stats": stats, **kept})

    def sample(self, variables: Variables, rng: Array, num: int) -> GANOutputs:
        z = self.noise(rng, num)
        return GANOutputs(self.generate(variables, z)[0], z)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool = False):
        """A GAN does not reconstruct: the outputs are samples, one per image given."""
        del train
        return self.sample(variables, rng, images.shape[0]), variables

    def evaluate_batch(self, variables: Variables, images: Array, batch: dict, rng: Array):
        """``({"d_real": [B]}, features [B, D])``: the discriminator's score of each real image
        and its last feature map (the DCGAN paper's use of D as a feature extractor), which
        the probes read."""
        self.input_spec.check(images)
        v = self._part(variables, "discriminator")
        feats = self.net.discriminator.apply(v, images, False, True)
        return {"d_real": self.discriminate(variables, images)[0]}, feats

    def features(self, outputs: Array, *, sample: bool = True) -> Array:
        """``[B, D]``: what ``evaluate`` gave (a GAN has no posterior to sample)."""
        return outputs

    def pictures(self, variables: Variables, batch: dict, outputs, rng: Array, num: int = 8):
        """``samples``: ``num`` generated images (a GAN reconstructs nothing)."""
        return {"samples": viz.sample_grid(self.input_spec, sample_fn(self)(variables, rng, num))}
