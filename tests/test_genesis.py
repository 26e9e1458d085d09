from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import init_variables

from ocg_jax.models.genesis import Genesis, GenesisNet
from ocg_jax.models.registry import get_model
from ocg_jax.objectives.kl import gaussian_log_prob

SMALL = dict(image_size=32, enc_channels=(8, 8, 8, 8, 8), enc_strides=(1, 2, 1, 1, 1), num_slots=4)


@pytest.fixture(scope="module", params=["genesis", "genesis_s"])
def model_and_vars(request):
    model = get_model({"name": request.param, **SMALL})
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 32, 32, 3))
    return model, init_variables(model, x), x


@cache
def _eval_apply(model):
    """The jitted evaluation-mode apply, compiled once per model for the tests that share it."""
    return jax.jit(partial(model.apply, train=False))


def test_outputs_shapes_and_masks(model_and_vars):
    model, variables, x = model_and_vars
    out, state = jax.jit(partial(model.apply, train=True))(variables, x, jax.random.PRNGKey(2))
    assert out.recon.shape == (3, 32, 32, 3)
    assert out.log_masks.shape == (3, 4, 32, 32, 1)
    assert out.components.shape == (3, 4, 32, 32, 3)
    np.testing.assert_allclose(jnp.exp(out.log_masks).sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        out.recon, (jnp.exp(out.log_masks) * out.components).sum(1), atol=1e-5
    )
    assert set(out.losses) == {"nll", *model.kl_terms}
    for v in out.losses.values():
        assert v.shape == (3,) and bool(jnp.all(jnp.isfinite(v)))
    # batch-norm statistics move in training, not in evaluation
    moved = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)), state["batch_stats"], variables["batch_stats"]
    )
    assert any(jax.tree.leaves(moved))
    _, same = _eval_apply(model)(variables, x, jax.random.PRNGKey(2))
    jax.tree.map(np.testing.assert_array_equal, same["batch_stats"], variables["batch_stats"])
    feats = model.features(out)
    want = 3 * 64 + 4 * 16 if model.name == "genesis" else 4 * 64
    assert feats.shape == (3, want)


def test_kl_m_is_the_mc_estimate_against_the_autoregressive_prior(model_and_vars):
    model, variables, x = model_and_vars
    out, _ = _eval_apply(model)(variables, x, jax.random.PRNGKey(3))
    net = model.net
    pm_mean, pm_std = net.apply(variables, out.zm, method=GenesisNet._mask_prior)
    assert np.allclose(pm_mean[:, 0], 0) and np.allclose(pm_std[:, 0], 1)
    assert float(jnp.abs(pm_mean).max()) <= 1.0  # tanh on the prior mean
    # the prior of z_k depends only on z_<k
    zm2 = out.zm.at[:, 2:].add(1.0)
    m2, _ = net.apply(variables, zm2, method=GenesisNet._mask_prior)
    np.testing.assert_allclose(m2[:, :3], pm_mean[:, :3], atol=1e-6)
    log_p = gaussian_log_prob(out.zm, pm_mean, pm_std).sum((1, 2))
    assert bool(jnp.all(jnp.isfinite(log_p)))


def test_samples(model_and_vars):
    model, variables, _ = model_and_vars
    s = jax.jit(model.sample, static_argnums=2)(variables, jax.random.PRNGKey(4), 5)
    assert s.recon.shape == (5, 32, 32, 3) and s.log_masks.shape == (5, 4, 32, 32, 1)
    assert float(s.recon.min()) >= 0 and float(s.recon.max()) <= 1
    assert float(jnp.abs(s.zm_mean[:, 1:]).max()) <= 1.0


def test_bad_inputs_give_clear_errors(model_and_vars):
    model, variables, x = model_and_vars
    rng = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match=r"shape \[B, 32, 32, 3\]"):
        model.apply(variables, jnp.zeros((2, 64, 64, 3)), rng, train=False)
    with pytest.raises(TypeError, match="floating point"):
        model.apply(variables, jnp.zeros((2, 32, 32, 3), jnp.uint8), rng, train=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.apply(variables, x * 255.0, rng, train=False)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model"):
        get_model({"name": "gensis"})
    with pytest.raises(ValueError, match="unknown option"):
        get_model({"name": "genesis", "num_slot": 5})
    with pytest.raises(ValueError, match="variant"):
        Genesis(GenesisNet(variant="x")).init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))


def _param_shapes(name, image_size=64, **options):
    model = get_model({"name": name, "image_size": image_size, **options})
    x = jnp.zeros((2, image_size, image_size, 3))
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)["params"]
    return jax.tree.map(lambda s: s.shape, shapes)


@pytest.mark.parametrize("name", ["genesis", "dc_vae"])
def test_mask_encoder_and_decoder_widths_are_the_originals(name):
    """The 16x16-kernel layers have no normalisation; the decoder's 5x5 layers go 64->64,
    64->32 (stride 2), 32->32, 32->32 (stride 2), 32->32 (the spec's layer list)."""
    p = _param_shapes(name)
    enc = p["mask_encoder" if name == "genesis" else "encoder"]
    dec = p["mask_decoder" if name == "genesis" else "dec"]
    assert enc["GatedDense_0"] == {"Dense_0": {"kernel": (16 * 16 * 64, 512), "bias": (512,)}}
    assert dec["Dense_0"] == {"kernel": (64, 16 * 16 * 128), "bias": (16 * 16 * 128,)}
    assert "BatchNorm_0" not in dec
    widths = [dec[f"GatedUpConv_{i}"]["Conv_0"]["kernel"] for i in range(5)]
    assert widths == [
        (5, 5, 64, 128),
        (5, 5, 64, 64),
        (5, 5, 32, 64),
        (5, 5, 32, 64),
        (5, 5, 32, 64),
    ]
    assert ("BatchNorm_0" in dec["GatedUpConv_1"]) == (name == "genesis")


def test_monet_unet_widths_at_32px_are_the_originals():
    unet = _param_shapes("monet", 32, num_slots=4)["attention"]["UNet_0"]
    outs = [unet[f"Conv_{i}"]["kernel"][-1] for i in range(8)]
    assert outs == [32, 64, 64, 64, 64, 64, 32, 32]  # 4 blocks down, 4 up
