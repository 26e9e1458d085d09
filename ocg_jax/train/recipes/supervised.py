"""The ``supervised`` recipe: cross-entropy on labelled batches (segmenters, feature nets).

The family names its targets, ``model.targets = {name: num_classes}``; its outputs
hold ``logits[name]`` (``[B, classes]``, or ``[B, H, W, classes]`` for a per-pixel
target) and the batch the integer labels under the same names.  ``loss`` is the
sum over targets of the mean cross-entropy; ``acc_<name>`` the accuracy.
"""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.models.base import Family
from ocg_jax.train.optimizers import make_optimizer
from ocg_jax.train.recipes.base import RecipeBase, settings_of, variables
from ocg_jax.train.state import TrainState

CONFIG_KEYS = ("optim",)


def _per_example(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cross-entropy, accuracy)``, each ``[B]`` (means over pixels for per-pixel labels)."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    axes = tuple(range(1, ce.ndim))
    return jnp.mean(ce, axes), jnp.mean(correct, axes)


@dataclasses.dataclass(frozen=True)
class Supervised(RecipeBase):
    """Cross-entropy on the family's targets with one optimiser (``config.optim``)."""

    name: ClassVar[str] = "supervised"
    progress: ClassVar[tuple[str, ...]] = ("loss",)

    def __post_init__(self):
        if not self.model.targets:
            raise ValueError(
                f"the supervised recipe needs a family with targets (model.targets); "
                f"{self.model.name!r} has none"
            )

    @property
    def fields(self) -> tuple[str, ...]:
        return ("image", *self.model.targets)

    @property
    def eval_fields(self) -> tuple[str, ...]:
        return self.fields

    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.settings.optim)

    def scores(self, out, batch: dict) -> dict[str, jax.Array]:
        """Per-example ``ce_<target>`` and ``acc_<target>``, each ``[B]``."""
        scores = {}
        for name in self.model.targets:
            scores[f"ce_{name}"], scores[f"acc_{name}"] = _per_example(
                out.logits[name], batch[name]
            )
        return scores

    def loss(self, params, state: TrainState, batch: dict, rng: jax.Array):
        out, model_state = self.model.apply(
            {"params": params, **state.model_state}, self.images(batch), rng, train=True
        )
        scores = {k: jnp.mean(v) for k, v in self.scores(out, batch).items()}
        loss = sum(scores[f"ce_{name}"] for name in self.model.targets)
        return loss, ({"loss": loss, **scores}, model_state, None)

    def eval_step(self, state: TrainState, batch: dict, rng: jax.Array):
        out, _ = self.model.apply(variables(state), self.images(batch), rng, train=False)
        return self.scores(out, batch), out

    def draw(self, state, batch, outputs, rng, num: int = 8) -> dict:
        return {}


def build(model: Family, config: ml_collections.ConfigDict) -> Supervised:
    return Supervised(model, settings_of(config, CONFIG_KEYS))
