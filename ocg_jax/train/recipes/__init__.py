"""Recipes: how each family trains.  ``build(model, config)`` is the one way to get a
train step, an eval step and what a run logs and draws (see ``recipes/base.py``).

    recipe = build(model, config)          # config.recipe, or the family's own
    step = compile_train_step(recipe, mesh)
"""

import functools

import jax
import ml_collections

from ocg_jax.models.base import Family
from ocg_jax.train.recipes import adversarial, elbo, score_function, supervised
from ocg_jax.train.recipes.base import Recipe
from ocg_jax.train.sharding import replicated

#: recipe name -> its module's ``build(model, config)``
RECIPES = {
    "elbo": elbo.build,
    "score_function": score_function.build,
    "adversarial": adversarial.build,
    "supervised": supervised.build,
}


def build(model: Family, config: ml_collections.ConfigDict, **hooks) -> Recipe:
    """The recipe ``config.recipe`` (default: the family's ``model.recipe``) for ``model``.

    ``hooks`` go to the recipe's builder (the ``elbo`` recipe takes ``regularizers``)."""
    name = config.get("recipe") or model.recipe
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} for {model.name!r}; known: {sorted(RECIPES)}")
    return RECIPES[name](model, config, **hooks)


@functools.cache
def compile_train_step(recipe: Recipe, mesh: jax.sharding.Mesh):
    """``recipe.train_step`` under ``jax.jit``, the state donated and replicated in and out;
    one per (recipe, mesh), so a run continued in the same process does not compile again."""
    out = (replicated(mesh), replicated(mesh))
    return jax.jit(recipe.train_step, donate_argnums=0, out_shardings=out)


@functools.cache
def compile_eval_step(recipe: Recipe, mesh: jax.sharding.Mesh | None = None):
    """``recipe.eval_step`` under ``jax.jit``: ``(state, batch, rng) -> (scores, outputs)``;
    with ``mesh``, the outputs replicated over it (every process can read them)."""
    if mesh is None:
        return jax.jit(recipe.eval_step)
    return jax.jit(recipe.eval_step, out_shardings=replicated(mesh))


__all__ = ["RECIPES", "Recipe", "build", "compile_eval_step", "compile_train_step"]
