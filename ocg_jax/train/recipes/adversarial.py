"""The ``adversarial`` recipe: several networks, each with its own optimiser, updated in
turn (e.g. the discriminator, then the generator) inside one compiled step.

The family keeps each network under a top-level parameter key (``model.groups``)
and says in what order what is updated: ``model.phases`` is a sequence of
``(phase, groups)``; phase ``p`` minimises ``model.phase_loss(p, variables,
images, rng)`` over the parameters of its groups only, with the other groups as
they stand after the earlier phases of the same step.  Each group's optimiser is
``config.optim`` with ``config.optim_groups.<group>``'s overrides (GANs: Adam
betas (0, 0.9); ReDO: weight decay on the mask network).
``config.adversarial.repeats.<phase>`` runs a phase several times per step (a
WGAN critic's 5), each time on the same real batch with fresh noise.  Every phase of a
step gets the step's key (folded by the repeat), so phases can draw the same noise, as
ReDO's original draws z once for both; a family that wants fresh noise per phase folds
the phase in itself (the GAN).
``config.adversarial.ema.<group>`` (a decay, e.g. 0.999) keeps an exponential moving
average of that group's parameters in ``model_state["ema"][group]``, started at the first
parameters and moved after every update.  The phases see it (and return model state
without it); a family reads it where it wants the average (the GAN samples from its
generator's, as SNGAN and BigGAN evaluate).  A group with batch statistics also gets
``model_state["ema_batch_stats"][group]``, started as the live ones, for the family to
keep as the average's own (the live network's do not fit the averaged weights).
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.models.base import Family
from ocg_jax.train.optimizers import check_groups, group_settings, make_optimizer
from ocg_jax.train.recipes.base import RecipeBase, settings_of, variables
from ocg_jax.train.state import TrainState

CONFIG_KEYS = ("optim", "optim_groups", "adversarial")


@dataclasses.dataclass(frozen=True)
class Adversarial(RecipeBase):
    """Alternating updates of parameter groups, one optimiser per group."""

    name: ClassVar[str] = "adversarial"
    eval_fields: ClassVar[tuple[str, ...]] = ("image", "mask")

    def __post_init__(self):
        groups, phases = tuple(self.model.groups), tuple(self.model.phases)
        if not groups or not phases:
            raise ValueError(
                f"the adversarial recipe needs a family with parameter groups and phases "
                f"(model.groups, model.phases); {self.model.name!r} has none"
            )
        for phase, updated in phases:
            if not updated or set(updated) - set(groups):
                raise ValueError(f"phase {phase!r} updates {updated}, not groups of {groups}")
        check_groups(self.settings, groups)
        unknown = sorted(set(self._repeats()) - {p for p, _ in phases})
        if unknown:
            raise ValueError(f"config.adversarial.repeats names unknown phases {unknown}")
        for group, decay in self._ema().items():
            if group not in groups or not 0 <= decay < 1:
                raise ValueError(
                    f"config.adversarial.ema maps parameter groups of {groups} to decays in "
                    f"[0, 1); got {group!r}: {decay}"
                )

    @property
    def finite(self) -> tuple[str, ...]:
        return tuple(f"{phase}_loss" for phase, _ in self.model.phases)

    @property
    def progress(self) -> tuple[str, ...]:
        return self.finite

    def _repeats(self) -> dict:
        adv = self.settings.get("adversarial") or {}
        return dict(adv.get("repeats") or {})

    def _ema(self) -> dict:
        adv = self.settings.get("adversarial") or {}
        return {g: float(d) for g, d in dict(adv.get("ema") or {}).items()}

    def init(self, rng: jax.Array) -> TrainState:
        state = super().init(rng)
        if not self._ema():
            return state
        copy = lambda tree: jax.tree.map(jnp.copy, tree)
        groups, live = self._ema(), state.model_state.get("batch_stats", {})
        model_state = {**state.model_state, "ema": {g: copy(state.params[g]) for g in groups}}
        stats = {g: copy(live[g]) for g in groups if live.get(g)}
        if stats:
            model_state["ema_batch_stats"] = stats
        return state.replace(model_state=model_state)

    def optimizers(self) -> dict[str, optax.GradientTransformation]:
        return {g: make_optimizer(group_settings(self.settings, g)) for g in self.model.groups}

    def init_opt_state(self, params):
        return {g: tx.init(params[g]) for g, tx in self.optimizers().items()}

    def train_step(self, state: TrainState, batch: dict):
        rng = jax.random.fold_in(state.rng, state.step)
        images = self.images(batch)
        txs = self.optimizers()
        params, opt_state, model_state = (
            dict(state.params),
            dict(state.opt_state),
            dict(state.model_state),
        )
        ema = model_state.pop("ema", None)  # the phases read it; none returns it
        repeats = self._repeats()
        metrics = {}
        for phase, groups in self.model.phases:
            for r in range(int(repeats.get(phase, 1))):
                key = jax.random.fold_in(rng, r)  # the step's key: phases may share noise

                def loss_fn(sub, phase=phase, key=key, model_state=model_state):
                    v = {"params": {**params, **sub}, **model_state}
                    v |= {"ema": ema} if ema is not None else {}
                    return self.model.phase_loss(phase, v, images, key)

                sub = {g: params[g] for g in groups}
                (loss, (m, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(sub)
                for g in groups:
                    updates, opt_state[g] = txs[g].update(grads[g], opt_state[g], params[g])
                    params[g] = optax.apply_updates(params[g], updates)
            metrics |= {f"{phase}_loss": loss, f"grad_norm_{phase}": optax.tree.norm(grads), **m}
        if ema is not None:
            ema = {
                g: optax.incremental_update(params[g], ema[g], 1 - decay)
                for g, decay in self._ema().items()
            }
            model_state = {**model_state, "ema": ema}
        new_state = state.replace(
            step=state.step + 1, params=params, model_state=model_state, opt_state=opt_state
        )
        return new_state, metrics

    def eval_step(self, state: TrainState, batch: dict, rng: jax.Array):
        """``(scores, outputs)`` of ``model.evaluate_batch`` (a mask network's masks against the
        truth, a discriminator's scores)."""
        return self.model.evaluate_batch(variables(state), self.images(batch), batch, rng)


def build(model: Family, config: ml_collections.ConfigDict) -> Adversarial:
    return Adversarial(model, settings_of(config, CONFIG_KEYS))
