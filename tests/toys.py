"""Toy families with known answers, one per recipe, for the recipe tests.

Each subclasses the model contract (``ocg_jax.models.base.Family``) and gives ``init``,
``apply``, ``sample``, ``features``, ``input_spec``, ``recipe``, plus what its recipe asks
for.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax.models.base import Family, InputSpec
from ocg_jax.objectives.adversarial import hinge_discriminator_loss, hinge_generator_loss
from ocg_jax.objectives.reinforce import ScoreTerms


@struct.dataclass
class ToyOutputs:
    recon: jax.Array  # [B, H, W, C]
    losses: dict
    score_terms: ScoreTerms | None = None
    z: jax.Array | None = None


# -- score_function: one Bernoulli latent -------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BernoulliToy(Family):
    """``z ~ q = Bernoulli(sigmoid(theta))``, prior ``Bernoulli(p0)``, cost ``f(z) = f0 + (f1 -
    f0) z`` as the NLL: the negative ELBO ``E_q f + KL(q || p0)`` is minimised by ``q(1) =
    p0 e^-f1 / (p0 e^-f1 + (1 - p0) e^-f0)``.  The baseline is one learned scalar."""

    f0: float = 3.0
    f1: float = 5.0
    p0: float = 0.5
    theta0: float = 0.0
    name: str = "bernoulli_toy"
    recipe: str = "score_function"
    kl_terms: tuple = ("kl",)
    baseline_group: str = "baseline"
    input_spec: InputSpec = InputSpec((1, 1, 1))

    def init(self, rng, batch):
        del rng, batch
        return {"params": {"model": {"theta": jnp.asarray(self.theta0)}, "baseline": {"b": 0.0}}}

    def probability(self, params):
        return jax.nn.sigmoid(params["model"]["theta"])

    def exact_gradient(self, theta: float) -> float:
        """d/dtheta of ``E_q f + KL(q || p0)``."""
        p = jax.nn.sigmoid(theta)
        logit0 = jnp.log(self.p0 / (1 - self.p0))
        return float(p * (1 - p) * (self.f1 - self.f0 + theta - logit0))

    def optimum(self) -> float:
        a = self.p0 * jnp.exp(-self.f1)
        return float(a / (a + (1 - self.p0) * jnp.exp(-self.f0)))

    def apply(self, variables, images, rng, *, train):
        del train
        params = variables["params"]
        b = images.shape[0]
        p = self.probability(params)
        z = jax.random.bernoulli(rng, p, (b,)).astype(jnp.float32)
        nll = self.f0 + (self.f1 - self.f0) * z  # [B]
        kl = p * jnp.log(p / self.p0) + (1 - p) * jnp.log((1 - p) / (1 - self.p0))
        log_q = z * jnp.log(p) + (1 - z) * jnp.log1p(-p)
        terms = ScoreTerms(
            log_prob=log_q[:, None],
            signal=nll[:, None],  # what z affects
            baseline=jnp.broadcast_to(params["baseline"]["b"], (b, 1)),
            mask=jnp.ones((b, 1)),
        )
        losses = {"nll": nll, "kl": jnp.broadcast_to(kl, (b,))}
        return ToyOutputs(images, losses, terms, z), {}

    def sample(self, variables, rng, num):
        return ToyOutputs(jnp.zeros((num, 1, 1, 1)), {})

    def features(self, outputs, *, sample=True):
        return outputs.z[:, None]


# -- adversarial: a Gaussian generator against an MLP critic ------------------------------
class _Critic(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        for width in (32, 32):
            x = nn.leaky_relu(nn.Dense(width)(x), 0.2)
        return nn.Dense(1)(x)[:, 0]


@dataclasses.dataclass(frozen=True)
class GaussianGan(Family):
    """Generator ``x = sigmoid(mu + s * eps)`` per pixel (``mu``, ``log s`` per pixel) against an
    MLP critic with the hinge loss: the generator's pixels move toward the data's."""

    shape: tuple = (1, 1, 1)
    mu0: float = -1.0
    name: str = "gaussian_gan"
    recipe: str = "adversarial"
    kl_terms: tuple = ()
    groups: tuple = ("generator", "discriminator")
    phases: tuple = (("discriminator", ("discriminator",)), ("generator", ("generator",)))

    @property
    def input_spec(self):
        return InputSpec(self.shape)

    def init(self, rng, batch):
        critic = _Critic().init(rng, batch)["params"]
        gen = {"mu": jnp.full(self.shape, self.mu0), "log_s": jnp.full(self.shape, -2.0)}
        return {"params": {"generator": gen, "discriminator": critic}}

    def generate(self, params, rng, num):
        eps = jax.random.normal(rng, (num, *self.shape))
        return jax.nn.sigmoid(params["mu"][None] + jnp.exp(params["log_s"])[None] * eps)

    def phase_loss(self, phase, variables, images, rng):
        params = variables["params"]
        fake = self.generate(params["generator"], rng, images.shape[0])
        d_fake = _Critic().apply({"params": params["discriminator"]}, fake)
        if phase == "discriminator":
            d_real = _Critic().apply({"params": params["discriminator"]}, images)
            loss = hinge_discriminator_loss(d_real, d_fake)
            return loss, ({"d_real": jnp.mean(d_real), "d_fake": jnp.mean(d_fake)}, {})
        loss = hinge_generator_loss(d_fake)
        return loss, ({"fake_mean": jnp.mean(fake)}, {})

    def apply(self, variables, images, rng, *, train):
        raise NotImplementedError("a GAN does not reconstruct")

    def sample(self, variables, rng, num):
        return ToyOutputs(self.generate(variables["params"]["generator"], rng, num), {})

    def features(self, outputs, *, sample=True):
        return outputs.recon.reshape(outputs.recon.shape[0], -1)


def toy_gan_family(options: dict):
    """Registry factory: ``{"image_size": S}`` -> a ``GaussianGan`` on ``[S, S, 3]`` images."""
    size = options.pop("image_size", 1)
    return GaussianGan(shape=(size, size, 3), **options)
