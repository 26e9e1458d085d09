"""The ``elbo`` recipe: ``loss = nll + beta * sum_k w_k KL_k + sum_r lambda_r R_r``.

The per-example terms come from the model (``outputs.losses``: ``nll`` and the
KL terms the family names in ``kl_terms``), averaged over the batch.  beta is
GECO's multiplier read from the optimiser state when ``config.geco.enabled``
(updated by the optimiser from the batch NLL), else ``config.beta``; the
relative KL weights ``w_k`` are ``config.kl_weights[k] / config.beta`` (MONet's
gamma beside beta) and 1 by default.  The batch regularisers ``R_r`` (for
example Disentangling Disentanglement's ``D(q(z), p(z))``) are functions of the
whole batch's outputs, weighted by ``config.regularizers[r]``; the logged
``elbo`` excludes them.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.models.base import Family
from ocg_jax.objectives.geco import geco, geco_beta
from ocg_jax.train.optimizers import make_optimizer
from ocg_jax.train.recipes.base import RecipeBase, settings_of
from ocg_jax.train.state import TrainState

#: config entries the recipe reads
CONFIG_KEYS = ("optim", "geco", "beta", "kl_weights", "regularizers")


def geco_goal(per_pixel: float, image_shape) -> float:
    """GECO reconstruction goal in nats per image: ``per_pixel * H * W * C``."""
    h, w, c = image_shape
    return per_pixel * h * w * c


def elbo_optimizer(settings, image_shape) -> optax.GradientTransformationExtraArgs:
    """``config.optim``'s optimiser, with GECO chained after it when enabled (its state
    then holds beta; feed ``recon_err=`` to ``update``)."""
    tx = make_optimizer(settings.optim)
    g = settings.get("geco")
    if g is not None and g.enabled:
        h, w, _ = image_shape
        step_size = g.step_size * 64**2 / (h * w)  # eta scaled to the image size
        goal = geco_goal(g.goal_per_pixel, image_shape)
        tx = optax.chain(
            tx,
            geco(
                goal,
                step_size,
                alpha=g.alpha,
                speedup=g.speedup,
                beta_init=g.beta_init,
                beta_min=g.beta_min,
                beta_max=g.beta_max,
            ),
        )
    return optax.with_extra_args_support(tx)


def relative_kl_weights(model: Family, config) -> dict[str, float]:
    """Each KL term's weight relative to beta: 1, or ``config.kl_weights[term] / config.beta``
    for fixed-weight training (MONet's gamma on KL_m next to beta on KL_c)."""
    given = dict(config.get("kl_weights") or {})
    unknown = sorted(set(given) - set(model.kl_terms))
    if unknown:
        raise ValueError(
            f"config.kl_weights names {unknown}, not KL terms of {model.name!r}: {model.kl_terms}"
        )
    geco_on = config.get("geco") is not None and config.geco.enabled
    if given and geco_on:
        raise ValueError("config.kl_weights applies to fixed-beta training; GECO is enabled")
    if not given:
        return dict.fromkeys(model.kl_terms, 1.0)  # beta may be 0 (no KL term at all)
    if not config.beta:
        raise ValueError("config.kl_weights are relative to config.beta, which is 0")
    return {k: float(given.get(k, config.beta)) / config.beta for k in model.kl_terms}


@dataclasses.dataclass(frozen=True)
class Elbo(RecipeBase):
    """ELBO training with GECO or a fixed beta, and optional batch regularisers.

    ``regularizers``: ``(name, fn)`` pairs, ``fn(outputs, variables, rng) -> scalar``, each
    added to the loss times ``settings.regularizers[name]`` and logged under ``name``.
    """

    regularizers: tuple = ()
    name: ClassVar[str] = "elbo"
    progress: ClassVar[tuple[str, ...]] = ("loss", "nll", "beta", "divergence")

    def __post_init__(self):
        relative_kl_weights(self.model, self.settings)  # errors at build time, not in jit
        weights = dict(self.settings.get("regularizers") or {})
        names = [n for n, _ in self.regularizers]
        if sorted(weights) != sorted(names):
            raise ValueError(
                f"config.regularizers gives weights for {sorted(weights)} but "
                f"{self.model.name!r} has the batch regularisers {sorted(names)}"
            )

    def optimizer(self) -> optax.GradientTransformationExtraArgs:
        return elbo_optimizer(self.settings, self.model.input_spec.shape)

    def loss(self, params, state: TrainState, batch: dict, rng: jax.Array):
        """``(loss, (metrics, model_state, None))`` of one batch at ``params``."""
        beta = jax.lax.stop_gradient(geco_beta(state.opt_state, self.settings.beta))
        weights = relative_kl_weights(self.model, self.settings)
        out, model_state = self.model.apply(
            {"params": params, **state.model_state}, self.images(batch), rng, train=True
        )
        terms = {k: jnp.mean(v) for k, v in out.losses.items()}
        kl = sum(terms[k] for k in self.model.kl_terms)
        weighted = sum(weights[k] * terms[k] for k in self.model.kl_terms)
        loss = terms["nll"] + beta * weighted
        lambdas = self.settings.get("regularizers") or {}
        reg_rng = jax.random.fold_in(rng, 1)
        for name, fn in self.regularizers:
            terms[name] = fn(out, {"params": params, **state.model_state}, reg_rng)
            loss = loss + lambdas[name] * terms[name]
        metrics = {"loss": loss, "beta": beta, "elbo": -(terms["nll"] + kl), **terms}
        return loss, (metrics | self.model.batch_metrics(out, batch), model_state, None)

    def update(self, grads, state: TrainState, metrics, aux):
        """The optimiser's update; GECO (when on) reads the batch's reconstruction error."""
        return self.optimizer().update(
            grads, state.opt_state, state.params, recon_err=metrics["nll"]
        )


def build(model: Family, config: ml_collections.ConfigDict, regularizers=None) -> Elbo:
    """The ``elbo`` recipe of ``model``: the family's batch regularisers
    (``model.batch_regularizers()``) and ``regularizers`` (a dict)."""
    found = dict(model.batch_regularizers())
    found.update(regularizers or {})
    return Elbo(model, settings_of(config, CONFIG_KEYS), tuple(sorted(found.items())))
