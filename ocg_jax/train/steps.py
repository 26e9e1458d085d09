"""Step factories: ``train_step(state, batch) -> (state, metrics)``.

Metrics are a flat dict of scalars (batch means).  The step is pure; callers
``jax.jit`` it once (``compile_train_step``).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from ocg_jax.data.pipeline import to_float
from ocg_jax.models.base import ModelFamily
from ocg_jax.objectives.geco import geco, geco_beta
from ocg_jax.train.sharding import replicated
from ocg_jax.train.state import TrainState

Metrics = dict[str, jax.Array]
TrainStep = Callable[[TrainState, dict], tuple[TrainState, Metrics]]


def geco_goal(per_pixel: float, image_shape) -> float:
    """GECO reconstruction goal in nats per image: ``per_pixel * H * W * C``."""
    h, w, c = image_shape
    return per_pixel * h * w * c


def make_optimizer(
    config: ml_collections.ConfigDict, image_shape
) -> optax.GradientTransformationExtraArgs:
    """The optimiser of ``config.optim``, with GECO chained after it if enabled."""
    optim = config.optim
    if optim.name == "adam":
        tx = optax.adam(optim.learning_rate)
    elif optim.name == "rmsprop":
        # torch's RMSprop (the original MONet's): smoothing 0.99, eps outside the sqrt
        tx = optax.rmsprop(optim.learning_rate, decay=optim.get("decay", 0.99), eps_in_sqrt=False)
    elif optim.name == "sgd":
        tx = optax.sgd(optim.learning_rate)
    else:
        raise ValueError(
            f"config.optim.name must be 'adam', 'rmsprop' or 'sgd', got {optim.name!r}"
        )
    if optim.get("grad_clip_norm"):
        tx = optax.chain(optax.clip_by_global_norm(optim.grad_clip_norm), tx)
    if config.geco.enabled:
        h, w, _ = image_shape
        step_size = config.geco.step_size * 64**2 / (h * w)  # eta scaled to the image size
        tx = optax.chain(
            tx,
            geco(
                geco_goal(config.geco.goal_per_pixel, image_shape),
                step_size,
                alpha=config.geco.alpha,
                speedup=config.geco.speedup,
                beta_init=config.geco.beta_init,
                beta_min=config.geco.beta_min,
                beta_max=config.geco.beta_max,
            ),
        )
    return optax.with_extra_args_support(tx)


def kl_weights(model: ModelFamily, config: ml_collections.ConfigDict) -> dict[str, float]:
    """Relative weight of each KL term: 1, or ``config.kl_weights[term] / config.beta`` for
    fixed-weight training (MONet's gamma on KL_m next to beta on KL_c)."""
    given = dict(config.get("kl_weights") or {})
    unknown = sorted(set(given) - set(model.kl_terms))
    if unknown:
        raise ValueError(
            f"config.kl_weights names {unknown}, not KL terms of {model.name!r}: {model.kl_terms}"
        )
    if given and config.geco.enabled:
        raise ValueError("config.kl_weights applies to fixed-beta training; GECO is enabled")
    return {k: float(given.get(k, config.beta)) / config.beta for k in model.kl_terms}


def make_elbo_step(
    model: ModelFamily,
    tx: optax.GradientTransformationExtraArgs,
    fixed_beta: float,
    weights: dict[str, float] | None = None,
) -> TrainStep:
    """ELBO-style step: ``loss = nll + beta * sum_k weights[k] * KL_k`` (weights default 1).

    beta comes from the GECO state in ``opt_state`` when GECO is chained into
    ``tx`` (read before the loss; updated by ``tx.update`` from the batch NLL),
    and is ``fixed_beta`` otherwise.
    """
    weights = weights or {}

    def train_step(state: TrainState, batch: dict) -> tuple[TrainState, Metrics]:
        rng = jax.random.fold_in(state.rng, state.step)
        images = to_float(batch["image"])
        beta = jax.lax.stop_gradient(geco_beta(state.opt_state, fixed_beta))

        def loss_fn(params):
            out, model_state = model.apply(
                {"params": params, **state.model_state}, images, rng, train=True
            )
            terms = {k: jnp.mean(v) for k, v in out.losses.items()}
            kl = sum(terms[k] for k in model.kl_terms)
            weighted = sum(weights.get(k, 1.0) * terms[k] for k in model.kl_terms)
            loss = terms["nll"] + beta * weighted
            return loss, (terms, model_state, kl)

        (loss, (terms, model_state, kl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params, recon_err=terms["nll"])
        params = optax.apply_updates(state.params, updates)
        new_state = state.replace(
            step=state.step + 1, params=params, model_state=model_state, opt_state=opt_state
        )
        metrics = {
            "loss": loss,
            "beta": beta,
            "elbo": -(terms["nll"] + kl),
            "grad_norm": optax.global_norm(grads),
            **terms,
        }
        return new_state, metrics

    return train_step


def compile_train_step(step: TrainStep, mesh: jax.sharding.Mesh) -> TrainStep:
    """``jax.jit`` with the state donated and replicated in and out."""
    return jax.jit(step, donate_argnums=0, out_shardings=(replicated(mesh), replicated(mesh)))
