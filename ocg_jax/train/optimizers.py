"""Optimisers from config blocks, and per-group settings.

    config.optim = {name: "adam", learning_rate: 1e-4, b1: 0.9, b2: 0.999, ...}
    config.optim_groups = {"discriminator": {learning_rate: 4e-4, b1: 0.0}}  # overrides

A recipe with several parameter groups (a baseline network, a discriminator)
gives each group ``group_settings(config, group)``: ``config.optim`` with that
group's overrides.
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax

#: keys an optimiser block may hold, with their defaults
DEFAULTS = {
    "name": "adam",
    "learning_rate": 1e-4,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "decay": 0.99,  # rmsprop smoothing (torch's default)
    "weight_decay": 0.0,
    "grad_clip_norm": 0.0,
}
NAMES = ("adam", "amsgrad", "amsgrad_torch", "rmsprop", "sgd")


def torch_amsgrad(learning_rate: float, b1: float, b2: float, eps: float):
    """PyTorch's ``Adam(amsgrad=True)``: the running maximum of the *raw* second moment,
    bias-corrected after the maximum.  ``optax.amsgrad`` takes the maximum of the
    bias-corrected moment instead, so the first steps' large estimates bound every later
    step.  The state is ``optax.amsgrad``'s (same fields), so checkpoints carry over."""

    def init_fn(params):
        zeros = lambda: optax.tree.zeros_like(params)
        return optax.ScaleByAmsgradState(jnp.zeros([], jnp.int32), zeros(), zeros(), zeros())

    def update_fn(updates, state, params=None):
        del params
        mu = optax.tree.update_moment(updates, state.mu, b1, 1)
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        count = optax.safe_increment(state.count)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu)
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        nu_hat = optax.tree.bias_correction(nu_max, b2, count)
        out = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu_hat, nu_hat)
        return out, optax.ScaleByAmsgradState(count, mu, nu, nu_max)

    return optax.chain(
        optax.GradientTransformation(init_fn, update_fn), optax.scale(-learning_rate)
    )


def _as_dict(block) -> dict:
    if block is None:
        return {}
    return dict(block.to_dict() if hasattr(block, "to_dict") else block)


def make_optimizer(block) -> optax.GradientTransformation:
    """The optax transformation of one optimiser block (see ``DEFAULTS``).

    ``weight_decay`` is PyTorch's ``Adam(weight_decay=...)``: an L2 term added to the
    gradient before the moments (ReDO's mask network uses it), not AdamW's decoupled
    decay.  ``grad_clip_norm`` > 0 clips the global gradient norm first.
    """
    given = _as_dict(block)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown optimiser setting(s) {unknown}; known: {sorted(DEFAULTS)}")
    o = {**DEFAULTS, **given}
    if o["name"] == "adam":
        tx = optax.adam(o["learning_rate"], b1=o["b1"], b2=o["b2"], eps=o["eps"])
    elif o["name"] == "amsgrad":  # optax's: the maximum of the bias-corrected second moment
        tx = optax.amsgrad(o["learning_rate"], b1=o["b1"], b2=o["b2"], eps=o["eps"])
    elif o["name"] == "amsgrad_torch":  # PyTorch's Adam(amsgrad=True), the originals' optimiser
        tx = torch_amsgrad(o["learning_rate"], b1=o["b1"], b2=o["b2"], eps=o["eps"])
    elif o["name"] == "rmsprop":
        # torch's RMSprop (the original MONet's): eps outside the square root
        tx = optax.rmsprop(o["learning_rate"], decay=o["decay"], eps=o["eps"], eps_in_sqrt=False)
    elif o["name"] == "sgd":
        tx = optax.sgd(o["learning_rate"])
    else:
        raise ValueError(f"config.optim.name must be one of {NAMES}, got {o['name']!r}")
    if o["weight_decay"]:
        tx = optax.chain(optax.add_decayed_weights(o["weight_decay"]), tx)
    if o["grad_clip_norm"]:
        tx = optax.chain(optax.clip_by_global_norm(o["grad_clip_norm"]), tx)
    return tx


def group_settings(config: ml_collections.ConfigDict, group: str) -> dict:
    """``config.optim`` with ``config.optim_groups[group]``'s overrides."""
    groups = _as_dict(config.get("optim_groups"))
    return {**_as_dict(config.get("optim")), **_as_dict(groups.get(group))}


def check_groups(config: ml_collections.ConfigDict, known) -> None:
    """Raise if ``config.optim_groups`` names a group the model does not have."""
    unknown = sorted(set(_as_dict(config.get("optim_groups"))) - set(known))
    if unknown:
        raise ValueError(
            f"config.optim_groups names {unknown}, not parameter groups of this model; "
            f"it has {sorted(known)}"
        )
