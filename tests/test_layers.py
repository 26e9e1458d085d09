"""ocg_jax.nn.layers: the plain forms (GPU/TPU) and the CPU-tuned forms are one layer, and a
program takes the form of the platform it is lowered for."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NARROW, tiny_config
from jax import export

from ocg_jax.models.registry import get_model
from ocg_jax.nn import layers
from ocg_jax.platform.strided import conv_transpose_stride2
from ocg_jax.train.recipes import build


def _init_and_losses(name: str, monkeypatch, choice: str, variables=None):
    """``(variables, losses)`` of a narrow ``name`` model traced with ``choice`` layers; a
    fresh jit each time, so nothing traced under the other choice is reused."""
    monkeypatch.setenv(layers.OVERRIDE, choice)
    assert layers.choice() == choice
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
        layers.choice()
    monkeypatch.delenv(layers.OVERRIDE)
    assert layers.choice() == "auto"


def _stride2_convs(text: str) -> int:
    return len(re.findall(r"stride = \[2, 2\]|window_strides = array<i64: 2, 2>", text))


def test_a_step_exported_for_gpu_or_tpu_holds_the_plain_forms_only(monkeypatch):
    """Exported from this CPU host for CUDA or TPU, a GENESIS train step holds no oneDNN call
    and its stride-2 convs as stride-2 convs (the plain form); lowered for the CPU, the same
    step holds oneDNN calls and no stride-2 conv (space-to-depth)."""
    monkeypatch.delenv(layers.OVERRIDE, raising=False)
    cfg = tiny_config("genesis_multi_dsprites")
    recipe = build(get_model(cfg.model), cfg)
    state = jax.eval_shape(recipe.init, jax.random.PRNGKey(0))
    batch = {"image": jax.ShapeDtypeStruct((4, 32, 32, 3), jnp.uint8)}
    step = jax.jit(recipe.train_step)
    for platform in ("cuda", "tpu"):
        text = export.export(step, platforms=[platform])(state, batch).mlir_module()
        assert "custom_call @__onednn" not in text, platform
        assert _stride2_convs(text) > 0, platform
    cpu = step.lower(state, batch).as_text()
    assert "custom_call @__onednn" in cpu and _stride2_convs(cpu) == 0


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
