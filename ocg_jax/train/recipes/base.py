"""The recipe protocol: how a model family trains.

    recipe = ocg_jax.train.recipes.build(model, config)
    state = create_train_state(recipe, rng, mesh)                 # ocg_jax.train.state
    state, metrics = recipe.train_step(state, batch)              # pure; jit once
    scores, outputs = recipe.eval_step(state, batch, rng)         # pure; scores [B] each
    pictures = recipe.draw(state, batch, outputs, rng)            # host side, uint8 grids

A recipe is a frozen dataclass of the model and the config entries it reads
(``settings``), so equal recipes hash equal and their compiled steps are shared.
Batches are dicts of the fields named in ``fields`` (uint8 images as stored);
the recipe converts images with the model's ``input_spec``.  ``RecipeBase`` owns the
train step; a recipe gives its ``loss``, its ``optimizer`` and, where the update needs
more than the gradients (GECO's reconstruction error, NVIL's running statistics),
``update``.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.metrics.segmentation import mask_scores
from ocg_jax.models.base import Family, Variables
from ocg_jax.train.state import TrainState

Metrics = dict[str, jax.Array]


class Recipe(Protocol):
    name: str
    model: Family
    fields: tuple[str, ...]  # batch fields the train step reads
    eval_fields: tuple[str, ...]  # fields eval_step reads where the split has them
    finite: tuple[str, ...]  # metrics that must stay finite (the loop stops otherwise)
    progress: tuple[str, ...]  # metrics shown beside the progress bar

    def init(self, rng: jax.Array) -> TrainState: ...

    def train_step(self, state: TrainState, batch: dict) -> tuple[TrainState, Metrics]: ...

    def eval_step(self, state: TrainState, batch: dict, rng: jax.Array) -> tuple[Metrics, Any]: ...

    def draw(self, state: TrainState, batch: dict, outputs: Any, rng: jax.Array) -> dict: ...


def settings_of(config: ml_collections.ConfigDict, keys: Sequence[str]):
    """The entries ``keys`` of ``config`` (those present) and ``max_label`` (the data's
    largest instance label) as a hashable frozen config."""
    found = {k: config[k] for k in keys if k in config}
    data = config.get("data") or {}
    return ml_collections.FrozenConfigDict({**found, "max_label": data.get("max_label", 0)})


def variables(state: TrainState) -> Variables:
    """The model's variables in ``state``: ``{"params": ..., **model_state}``."""
    return {"params": state.params, **state.model_state}


@dataclasses.dataclass(frozen=True)
class RecipeBase:
    """What most recipes share: initialisation, the model's images, evaluation of models
    that reconstruct, and pictures.  Subclasses define ``init_opt_state`` and the steps."""

    model: Family
    settings: ml_collections.FrozenConfigDict
    name: ClassVar[str] = ""
    finite: ClassVar[tuple[str, ...]] = ("loss",)
    progress: ClassVar[tuple[str, ...]] = ("loss",)

    @property
    def fields(self) -> tuple[str, ...]:
        """The model's input (``input_spec.field``: images, or points)."""
        return (self.model.input_spec.field,)

    @property
    def eval_fields(self) -> tuple[str, ...]:
        return (self.model.input_spec.field, "mask")

    def optimizer(self) -> optax.GradientTransformation:
        raise NotImplementedError

    def init_opt_state(self, params) -> Any:
        return self.optimizer().init(params)

    def loss(self, params, state: TrainState, batch: dict, rng: jax.Array):
        """``(loss, (metrics, model_state, aux))`` of one batch at ``params``; ``aux`` goes to
        ``update``."""
        raise NotImplementedError

    def update(self, grads, state: TrainState, metrics: Metrics, aux) -> tuple[Any, Any]:
        """``(updates, opt_state)`` of the optimiser for ``grads``."""
        return self.optimizer().update(grads, state.opt_state, state.params)

    def train_step(self, state: TrainState, batch: dict) -> tuple[TrainState, Metrics]:
        """One update: the step's rng is ``fold_in(state.rng, state.step)``."""
        rng = jax.random.fold_in(state.rng, state.step)
        grad_fn = jax.grad(self.loss, has_aux=True)
        grads, (metrics, model_state, aux) = grad_fn(state.params, state, batch, rng)
        updates, opt_state = self.update(grads, state, metrics, aux)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            model_state=model_state,
            opt_state=opt_state,
        )
        return new_state, {**metrics, "grad_norm": optax.tree.norm(grads)}

    def init(self, rng: jax.Array) -> TrainState:
        """A fresh state: the model initialised on one zero image, its optimiser state."""
        init_rng, state_rng = jax.random.split(rng)
        images = jnp.full((1, *self.model.input_spec.shape), self.model.input_spec.low)
        model_vars = dict(self.model.init(init_rng, images))
        params = model_vars.pop("params")
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state=model_vars,
            opt_state=self.init_opt_state(params),
            rng=state_rng,
        )

    def images(self, batch: dict) -> jax.Array:
        """The batch's inputs as the model reads them (uint8 images made float)."""
        spec = self.model.input_spec
        return spec.preprocess(batch[spec.field])

    def eval_step(self, state: TrainState, batch: dict, rng: jax.Array):
        """``({name: [B]}, outputs)``: the loss terms, ELBO and (for models with masks and a
        batch with ``mask``) segmentation scores of each example, in evaluation mode."""
        out, _ = self.model.apply(variables(state), self.images(batch), rng, train=False)
        return reconstruction_scores(self.model, out, batch, self.settings), out

    def draw(self, state: TrainState, batch: dict, outputs, rng: jax.Array, num: int = 8):
        """The family's pictures (``model.pictures``): uint8 grids with labelled rows."""
        return self.model.pictures(variables(state), batch, outputs, rng, num)


def reconstruction_scores(model: Family, out, batch: dict, settings) -> dict[str, jax.Array]:
    """Per-example ``[B]`` scores of a model that reconstructs: its loss terms, ``elbo``
    (minus the sum of them) and, with masks on both sides, ARI / SC scores."""
    scores = dict(out.losses)
    scores["elbo"] = -sum(out.losses.values())
    if getattr(out, "log_masks", None) is not None and "mask" in batch:
        num_true = settings.max_label + 1  # static: the largest instance label of the data
        scores.update(mask_scores(out.log_masks, batch["mask"], num_true=num_true))
    scores.update(model.example_metrics(out, batch))
    return scores


def batch_mean(scores: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Means over the batch of per-example scores (NaN entries skipped: an image without
    foreground has no covering score)."""
    return {k: jnp.nanmean(v) for k, v in scores.items()}
