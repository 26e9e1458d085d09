"""Priors p(z) of Disentangling Disentanglement (Mathieu et al., 2019) as numpyro distributions.

    spec = PriorSpec.parse({"name": "student_t", "df": 9.0})
    p = prior_distribution(spec, latent=10)            # event shape [10]
    z = p.sample(rng, (64,)); log_p = p.log_prob(z)    # [64, 10], [64]

Names (``PRIORS``):
  * ``isotropic``: N(0, variance I).
  * ``anisotropic``: N(0, diag(s)) with ``sum(s) = latent * variance`` fixed and
    ``s ∝ softmax(log_variances)``; ``learn`` makes the relative log-variances
    parameters of the model (the original's ``--learn-prior-variance``).
  * ``student_t``: independent Student-t, ``df`` (9 in the paper), scale sqrt(variance).
  * ``mixture``: equal mixture of Gaussians at ``means`` with std sqrt(variance)
    (pinwheel: the 4 means (0, ±1), (±1, 0) and variance 0.03).
  * ``sparse``: per dimension ``gamma N(0, sparse_std^2) + (1 - gamma) N(0, variance)``
    (gamma 0.8, sparse_std 0.05).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist

PRIORS = ("isotropic", "anisotropic", "student_t", "mixture", "sparse")
PINWHEEL_MEANS = ((0.0, -1.0), (0.0, 1.0), (1.0, 0.0), (-1.0, 0.0))


@dataclasses.dataclass(frozen=True)
class PriorSpec:
    """Which prior and its settings (hashable: models carry it as a field)."""

    name: str = "isotropic"
    variance: float = 1.0  # per-dimension variance (the original's prior_variance_scale)
    log_variances: tuple[float, ...] = ()  # anisotropic: relative log-variances, one per dim
    learn: bool = False  # anisotropic: learn the relative variances
    df: float = 9.0  # student_t
    means: tuple[tuple[float, ...], ...] = PINWHEEL_MEANS  # mixture component means
    gamma: float = 0.8  # sparse: weight of the narrow component
    sparse_std: float = 0.05

    def __post_init__(self):
        if self.name not in PRIORS:
            raise ValueError(f"unknown prior {self.name!r}; known: {list(PRIORS)}")
        if self.variance <= 0:
            raise ValueError(f"prior variance must be > 0, got {self.variance}")
        if self.name == "student_t" and self.df <= 0:
            raise ValueError(f"the Student-t prior's df must be > 0, got {self.df}")
        if self.name == "sparse" and not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"the sparse prior's gamma must be in [0, 1), got {self.gamma}")

    @classmethod
    def parse(cls, value) -> "PriorSpec":
        """From a ``PriorSpec``, a name, or a dict / ConfigDict of the fields above."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(name=value)
        options = dict(value.to_dict() if hasattr(value, "to_dict") else value)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ValueError(f"unknown prior option(s) {unknown}; the prior takes {sorted(fields)}")
        for key in ("log_variances", "means"):
            if key in options:
                options[key] = _tuples(options[key])
        return cls(**options)

    def check(self, latent: int) -> None:
        """Clear errors for settings that do not fit ``latent`` dimensions."""
        self.default_log_variances(latent)
        if self.name == "mixture" and any(len(m) != latent for m in self.means):
            raise ValueError(
                f"the mixture prior's means {self.means} must each have the latent size "
                f"{latent} (set model.prior.means, or model.latent)"
            )

    def default_log_variances(self, latent: int) -> np.ndarray:
        """``[latent]``: ``log_variances`` if given, else 0 for all (isotropic start)."""
        if not self.log_variances:
            return np.zeros(latent, np.float32)
        if len(self.log_variances) != latent:
            raise ValueError(
                f"prior.log_variances has {len(self.log_variances)} entries for {latent} latents"
            )
        return np.asarray(self.log_variances, np.float32)


def _tuples(value):
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return float(value)


def anisotropic_scales(log_variances: jax.Array, variance: float) -> jax.Array:
    """Per-dimension std ``[D]``: ``sqrt(D * variance * softmax(log_variances))``."""
    d = log_variances.shape[-1]
    return jnp.sqrt(d * variance * jax.nn.softmax(log_variances))


class Prior:
    """``p(z)``: a numpyro distribution (``distribution``) whose parameters ``[latent]``
    numpyro broadcasts against values ``[..., latent]``, a rank promotion allowed here by
    name (the tests make implicit ones errors)."""

    def __init__(self, distribution: dist.Distribution):
        self.distribution = distribution

    def log_prob(self, z: jax.Array) -> jax.Array:
        """``[...]``: log p(z) of ``z [..., latent]``."""
        with jax.numpy_rank_promotion("allow"):
            return self.distribution.log_prob(z)

    def sample(self, rng: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
        """``[*shape, latent]``."""
        with jax.numpy_rank_promotion("allow"):
            return self.distribution.sample(rng, shape)

    def component_log_probs(self, z: jax.Array) -> jax.Array:
        """``[..., K]``: log w_k + log p_k(z) of a mixture's components."""
        with jax.numpy_rank_promotion("allow"):
            return self.distribution.component_log_probs(z)


def prior_distribution(
    spec: PriorSpec, latent: int, log_variances: jax.Array | None = None
) -> Prior:
    """``p(z)`` with event shape ``[latent]``; ``log_variances`` ``[latent]`` (anisotropic:
    the learned or fixed relative log-variances, default ``spec``'s)."""
    return Prior(_distribution(spec, latent, log_variances))


def _distribution(spec: PriorSpec, latent: int, log_variances) -> dist.Distribution:
    std = float(np.sqrt(spec.variance))
    zeros = jnp.zeros(latent)
    if spec.name == "isotropic":
        return dist.Normal(zeros, std).to_event(1)
    if spec.name == "anisotropic":
        if log_variances is None:
            log_variances = jnp.asarray(spec.default_log_variances(latent))
        return dist.Normal(zeros, anisotropic_scales(log_variances, spec.variance)).to_event(1)
    if spec.name == "student_t":
        return dist.StudentT(spec.df, zeros, std).to_event(1)
    if spec.name == "mixture":
        means = jnp.asarray(spec.means, jnp.float32)
        if means.ndim != 2 or means.shape[1] != latent:
            raise ValueError(
                f"the mixture prior's means have shape {tuple(means.shape)}; each must have "
                f"the latent size {latent}"
            )
        k = means.shape[0]
        mixing = dist.Categorical(probs=jnp.full(k, 1.0 / k))
        return dist.MixtureSameFamily(mixing, dist.Normal(means, std).to_event(1))
    # sparse: a two-component mixture per dimension
    probs = jnp.broadcast_to(jnp.asarray([spec.gamma, 1.0 - spec.gamma]), (latent, 2))
    scales = jnp.broadcast_to(jnp.asarray([spec.sparse_std, std]), (latent, 2))
    components = dist.Normal(jnp.zeros((latent, 2)), scales)
    return dist.MixtureSameFamily(dist.Categorical(probs=probs), components).to_event(1)


def has_closed_form_kl(spec: PriorSpec) -> bool:
    """Whether KL(N(mu, sigma^2) || p) is analytic (Gaussian priors)."""
    return spec.name in ("isotropic", "anisotropic")
