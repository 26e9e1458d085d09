"""ocg_jax.nn.layers: the plain forms (GPU/TPU) and the CPU-tuned forms are one layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NARROW

from ocg_jax.models.registry import get_model
from ocg_jax.nn import layers
from ocg_jax.platform.strided import conv_transpose_stride2


def _init_and_losses(name: str, monkeypatch, choice: str, variables=None):
    """``(variables, losses)`` of a narrow ``name`` model traced with ``choice`` layers; a
    fresh jit each time, so nothing traced under the other choice is reused."""
    monkeypatch.setenv(layers.OVERRIDE, choice)
    assert layers.tuned() == (choice == "tuned")
    model = get_model({"name": name, "image_size": 32, **NARROW[name]})
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3))
    with jax.threefry_partitionable(False):
        if variables is None:
            variables = jax.jit(model.init)(jax.random.PRNGKey(1), x)
    apply = jax.jit(lambda v, x: model.apply(v, x, jax.random.PRNGKey(2), train=True))
    out, _ = apply(variables, x)
    return variables, out.losses


@pytest.mark.parametrize("name", ["genesis", "monet", "dc_vae", "bd_vae"])
def test_tuned_and_plain_models_share_parameters_and_compute_the_same(name, monkeypatch):
    tuned_vars, tuned_losses = _init_and_losses(name, monkeypatch, "tuned")
    plain_vars, _ = _init_and_losses(name, monkeypatch, "plain")
    # same names and shapes: a checkpoint written on one backend loads on another
    assert jax.tree.map(jnp.shape, tuned_vars) == jax.tree.map(jnp.shape, plain_vars)
    _, plain_losses = _init_and_losses(name, monkeypatch, "plain", tuned_vars)
    for k, v in tuned_losses.items():
        # float32 sums of ~3k pixel terms in a different order: relative 1e-5 of the total
        np.testing.assert_allclose(plain_losses[k], v, rtol=1e-4, atol=1e-3, err_msg=k)


def test_plain_up_conv_is_the_tuned_one():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 3, 4))
    cot = jax.random.normal(jax.random.PRNGKey(2), (2, 10, 12, 4))
    pairs = [
        jax.value_and_grad(lambda x, w, f=f: jnp.sum(f(x, w) * cot), (0, 1))(x, w)
        for f in (layers.conv_transpose_stride2, conv_transpose_stride2)
    ]
    for a, b in zip(jax.tree.leaves(pairs[0]), jax.tree.leaves(pairs[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_override_is_checked(monkeypatch):
    monkeypatch.setenv(layers.OVERRIDE, "fast")
    with pytest.raises(ValueError, match="OCG_JAX_LAYERS"):
        layers.tuned()
    monkeypatch.delenv(layers.OVERRIDE)
    assert layers.tuned() == (jax.default_backend() == "cpu")
