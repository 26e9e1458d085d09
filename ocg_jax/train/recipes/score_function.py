"""The ``score_function`` recipe: the ELBO with REINFORCE for discrete latents.

``loss = nll + sum_k KL_k + surrogate + baseline_loss`` (batch means), where the
reparameterised latents get pathwise gradients through ``nll`` and the KLs, the
discrete ones the score-function gradient of ``surrogate`` (weighted by the
learning signal minus the learned baseline, optionally NVIL-normalised), and the
baseline network its squared error.  The family returns ``outputs.score_terms``
(``objectives.reinforce.ScoreTerms``) and keeps its baseline network under the
top-level parameter key ``model.baseline_group``; that group has its own
optimiser (``config.optim_groups.<group>``, typically a higher learning rate),
everything else is the ``model`` group.  The logged ``elbo`` is ``-(nll + sum KL)``,
without the surrogate and baseline terms.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.models.base import Family
from ocg_jax.objectives.reinforce import (
    baseline_loss,
    init_signal_stats,
    normalise_signal,
    surrogate,
)
from ocg_jax.train.optimizers import check_groups, group_settings, make_optimizer
from ocg_jax.train.recipes.base import RecipeBase, settings_of
from ocg_jax.train.state import TrainState

CONFIG_KEYS = ("optim", "optim_groups", "reinforce")
MODEL_GROUP = "model"


@dataclasses.dataclass(frozen=True)
class ScoreFunction(RecipeBase):
    """Pathwise + score-function gradients, a learned baseline in its own group."""

    name: ClassVar[str] = "score_function"
    progress: ClassVar[tuple[str, ...]] = ("elbo", "count_acc")  # those the family logs

    @property
    def fields(self) -> tuple[str, ...]:
        """The images and the labels the family's metrics read (``model.label_fields``)."""
        return ("image", *self.model.label_fields)

    @property
    def eval_fields(self) -> tuple[str, ...]:
        return ("image", "mask", *self.model.label_fields)

    def __post_init__(self):
        group = self.model.baseline_group
        if not group:
            raise ValueError(
                f"the score_function recipe needs a family with a baseline network "
                f"(model.baseline_group); {self.model.name!r} has none"
            )
        check_groups(self.settings, (MODEL_GROUP, group))

    def _reinforce(self, key: str, default):
        return (self.settings.get("reinforce") or {}).get(key, default)

    def optimizer(self) -> optax.GradientTransformation:
        group = self.model.baseline_group

        def labels(params):
            return {
                k: jax.tree.map(lambda _, k=k: group if k == group else MODEL_GROUP, v)
                for k, v in params.items()
            }

        txs = {g: make_optimizer(group_settings(self.settings, g)) for g in (MODEL_GROUP, group)}
        return optax.multi_transform(txs, labels)

    def init_opt_state(self, params):
        return {"optim": self.optimizer().init(params), "signal": init_signal_stats()}

    def loss(self, params, state: TrainState, batch: dict, rng: jax.Array):
        """``(loss, (metrics, model_state, signal_stats))`` of one batch at ``params``."""
        out, model_state = self.model.apply(
            {"params": params, **state.model_state}, self.images(batch), rng, train=True
        )
        terms = {k: jnp.mean(v) for k, v in out.losses.items()}
        neg_elbo = terms["nll"] + sum(terms[k] for k in self.model.kl_terms)
        st = out.score_terms
        centred = jax.lax.stop_gradient(st.signal - st.baseline)
        stats = state.opt_state["signal"]
        if self._reinforce("normalise", False):
            centred, stats = normalise_signal(
                centred, st.mask, stats, self._reinforce("decay", 0.9)
            )
        surr = jnp.mean(surrogate(st.log_prob, centred, st.mask))
        bl = jnp.mean(baseline_loss(st))
        n = jnp.maximum(jnp.sum(st.mask), 1.0)
        resid = jax.lax.stop_gradient(st.signal - st.baseline)
        metrics = {
            "loss": neg_elbo + surr + bl,
            "elbo": -neg_elbo,
            **terms,
            "surrogate": surr,
            "baseline_loss": bl,
            # spread of what weights the score: lower with a better baseline
            "signal_std": jnp.sqrt(jnp.sum(st.mask * jnp.square(resid)) / n),
        }
        metrics |= self.model.batch_metrics(out, batch)
        return metrics["loss"], (metrics, model_state, stats)

    def gradients(self, state: TrainState, batch: dict, rng: jax.Array):
        """``(grads, (metrics, model_state, signal_stats))``: one draw of the estimator."""
        return jax.grad(self.loss, has_aux=True)(state.params, state, batch, rng)

    def update(self, grads, state: TrainState, metrics, stats):
        """The optimisers' update, and the signal's running statistics (``stats``, NVIL)."""
        updates, optim = self.optimizer().update(grads, state.opt_state["optim"], state.params)
        return updates, {"optim": optim, "signal": stats}


def build(model: Family, config: ml_collections.ConfigDict) -> ScoreFunction:
    return ScoreFunction(model, settings_of(config, CONFIG_KEYS))
