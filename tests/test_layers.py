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


@pytest.mark.parametrize("name", ["genesis", "monet"])
def test_mixed_precision_losses_are_close_to_float32(name):
    """``compute_dtype="bfloat16"``: the same (float32) parameters give float32 losses close
    to float32's on a fixed batch."""
    x = jax.random.uniform(jax.random.PRNGKey(0), (8, 32, 32, 3))
    losses, variables = {}, None
    for dtype in ("float32", "bfloat16"):
        model = get_model({"name": name, "image_size": 32, **NARROW[name], "compute_dtype": dtype})
        with jax.threefry_partitionable(False):
            variables = variables or jax.jit(model.init)(jax.random.PRNGKey(1), x)
        out, _ = jax.jit(lambda v, x, m=model: m.apply(v, x, jax.random.PRNGKey(2), train=True))(
            variables, x
        )
        losses[dtype] = out.losses
        assert all(v.dtype == jnp.float32 for v in out.losses.values())
    # bfloat16 keeps 8 significant bits (2^-9 = 2e-3 relative per rounding).  The NLL sums
    # 3k float32 pixel terms of outputs with that error, which average out: 1e-3 relative.
    # A KL term is a difference of log-densities of a few latents, each carrying the error
    # of its encoder's output: 2e-2 of its size (seen: <= 5e-3)
    f32, b16 = losses["float32"], losses["bfloat16"]
    np.testing.assert_allclose(b16["nll"], f32["nll"], rtol=1e-3)
    for k in set(f32) - {"nll"}:
        np.testing.assert_allclose(b16[k], f32[k], rtol=2e-2, atol=1e-2, err_msg=k)


def test_mixed_precision_trains_like_float32():
    """The recipe's steps from one state with bfloat16 compute (DC-VAE, the fastest to
    compile) follow float32's NLL to 1e-2; parameters and optimiser state stay float32."""
    from helpers import tiny_config

    from ocg_jax.train.recipes import build
    from ocg_jax.train.sharding import make_mesh
    from ocg_jax.train.state import create_train_state

    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 32, 32, 3))
    nll = {}
    for dtype in ("float32", "bfloat16"):
        cfg = tiny_config("dc_vae_tetrominoes")
        cfg.model.compute_dtype = dtype
        recipe = build(get_model(cfg.model), cfg)
        state = create_train_state(recipe, jax.random.PRNGKey(0), make_mesh(jax.devices()[:1]))
        step = jax.jit(recipe.train_step)
        batch = {"image": (np.asarray(x) * 255).astype(np.uint8)}
        nll[dtype] = []
        for _ in range(6):
            state, metrics = step(state, batch)
            nll[dtype].append(float(metrics["nll"]))
        dtypes = {a.dtype for a in jax.tree.leaves((state.params, state.opt_state))}
        assert dtypes <= {jnp.dtype(jnp.float32), jnp.dtype(jnp.int32)}, dtypes
    np.testing.assert_allclose(nll["bfloat16"], nll["float32"], rtol=1e-2)
