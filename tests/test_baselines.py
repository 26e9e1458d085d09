"""MONet, DC-VAE and BD-VAE: the networks, their losses, and the engine tests GENESIS passes."""

import json
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NARROW, init_variables, tiny_config

from ocg_jax.analysis.evaluation import evaluate_run, format_table
from ocg_jax.analysis.runs import load_run
from ocg_jax.data.labels import LABEL_CLASSES
from ocg_jax.models.monet import MonetNet, categorical_kl
from ocg_jax.models.registry import get_model
from ocg_jax.objectives.mixture import mixture_nll

FAMILIES = ("monet", "dc_vae", "bd_vae")
_KL = {"monet": ("kl_m", "kl_c"), "dc_vae": ("kl",), "bd_vae": ("kl",)}


@pytest.fixture(scope="module", params=FAMILIES)
def model_and_vars(request):
    options = {"name": request.param, "image_size": 32, **NARROW[request.param]}
    if request.param == "monet":  # Burgess et al.'s likelihood: background 0.09, others 0.11
        options |= {"sigma": 0.11, "bg_sigma": 0.09}
    model = get_model(options)
    x = jax.random.uniform(jax.random.PRNGKey(0), (3, 32, 32, 3))
    return model, init_variables(model, x), x


def test_outputs_losses_and_samples(model_and_vars):
    model, variables, x = model_and_vars
    out, state = jax.jit(partial(model.apply, train=True))(variables, x, jax.random.PRNGKey(2))
    assert out.recon.shape == (3, 32, 32, 3) and set(out.losses) == {"nll", *model.kl_terms}
    for v in out.losses.values():
        assert v.shape == (3,) and bool(jnp.all(jnp.isfinite(v)))
    assert "batch_stats" not in state  # no normalisation statistics in these families
    s = jax.jit(model.sample, static_argnums=2)(variables, jax.random.PRNGKey(4), 5)
    assert s.recon.shape == (5, 32, 32, 3)
    assert float(s.recon.min()) >= 0 and float(s.recon.max()) <= 1
    if model.name == "monet":
        k = model.net.num_slots
        assert out.log_masks.shape == (3, k, 32, 32, 1) and model.features(out).shape == (3, k * 16)
        for masks in (out.log_masks, out.log_masks_decoded, s.log_masks):
            np.testing.assert_allclose(jnp.exp(masks).sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(
            out.recon, (jnp.exp(out.log_masks) * out.components).sum(1), atol=1e-5
        )
        sigmas = jnp.array([0.09] + [0.11] * (k - 1))
        want = mixture_nll(x, out.log_masks, out.components, sigmas)
        np.testing.assert_allclose(out.losses["nll"], want, rtol=1e-5)
        # one U-Net shared by the K-1 scan steps: its parameters are not stacked per step
        kernels = [p for p in jax.tree.leaves(variables["params"]["attention"]) if p.ndim == 4]
        assert kernels and all(p.shape[:2] in ((3, 3), (1, 1)) for p in kernels)
        assert bool(jnp.all(out.losses["kl_m"] >= 0)) and bool(jnp.all(out.losses["kl_c"] >= 0))
    else:
        assert model.features(out).shape == (3, 64)
        assert bool(jnp.all(out.losses["kl"] >= 0)) and bool(jnp.any(out.z != out.z_mean))
        sigma = 0.7
        want = 0.5 * ((x - out.recon) / sigma) ** 2 + jnp.log(sigma) + 0.5 * jnp.log(2 * jnp.pi)
        np.testing.assert_allclose(out.losses["nll"], want.sum((1, 2, 3)), rtol=1e-5)


def test_monet_needs_a_power_of_two_image():
    with pytest.raises(ValueError, match="power-of-two"):
        MonetNet(image_size=48).init(
            {"params": jax.random.PRNGKey(0), "sample": jax.random.PRNGKey(0)},
            jnp.zeros((1, 48, 48, 3)),
            train=False,
        )


def test_categorical_kl():
    p = jax.nn.log_softmax(jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5)), axis=1)
    q = jax.nn.log_softmax(jax.random.normal(jax.random.PRNGKey(1), (2, 4, 5)), axis=1)
    np.testing.assert_allclose(categorical_kl(p, p), 0.0, atol=1e-6)
    want = np.sum(np.exp(p) * (p - q), axis=1)
    np.testing.assert_allclose(categorical_kl(p, q), want, rtol=1e-5)
    # masks below 1e-5 are clamped, so a near-zero mask cannot blow the KL up
    tiny = jnp.log(jnp.array([[1.0 - 1e-12], [1e-12]]))[None]
    assert float(categorical_kl(jnp.log(jnp.array([[[0.5], [0.5]]])), tiny)[0, 0]) < 6.0


@pytest.mark.parametrize("name", FAMILIES)
def test_training_and_evaluation_score_masks_only_where_there_are_masks(name, family_run):
    workdir, _ = family_run(name)
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows if "loss" in r)
    assert any("val_ari_fg" in r for r in rows) == (name == "monet")
    result = evaluate_run(
        load_run(workdir),
        num_images=8,
        batch_size=4,
        fd_images=0,
        fd_samples=0,
        probe_train_images=16,
        probe_test_images=8,
        progress=False,
    )
    metrics = result["metrics"]
    assert ("ari_fg" in metrics) == (name == "monet") and np.isfinite(metrics["nll"])
    assert metrics["elbo"] == pytest.approx(-sum(metrics[k] for k in ("nll", *_KL[name])))
    assert set(result["probes"]["latents"]) == set(LABEL_CLASSES["tetrominoes"])
    table = format_table(result)
    assert "leftmost_shape logistic" in table and ("ari_fg" in table) == (name == "monet")


def test_monet_original_config_and_relative_kl_weights():
    from ocg_jax.train.recipes.elbo import relative_kl_weights

    cfg = tiny_config("monet_multi_dsprites", variant="original")
    model = get_model(cfg.model)
    assert cfg.optim.name == "rmsprop" and not cfg.geco.enabled and cfg.batch_size == 4
    assert relative_kl_weights(model, cfg) == {"kl_m": 1.0, "kl_c": 1.0}  # gamma = beta = 0.5
    cfg.kl_weights.kl_m = 1.0
    assert relative_kl_weights(model, cfg) == {"kl_m": 2.0, "kl_c": 1.0}
    cfg.kl_weights.kl_x = 1.0
    with pytest.raises(ValueError, match="kl_x"):
        relative_kl_weights(model, cfg)
    with pytest.raises(ValueError, match=r"unknown config variant\(s\) \['original'\]"):
        tiny_config("dc_vae_multi_dsprites", variant="original")


def test_every_experiment_config_builds():
    import importlib
    from pathlib import Path

    from ocg_jax.data.builders import get_builder

    files = sorted(f for f in Path("experiments/configs").glob("*_*.py") if f.stem != "__init__")
    names = {f.stem for f in files}
    for model in ("genesis", "genesis_s", "monet", "dc_vae", "bd_vae"):
        for dataset in ("multi_dsprites", "tetrominoes"):
            assert f"{model}_{dataset}" in names
    for f in files:
        module = importlib.import_module(f"experiments.configs.{f.stem}")
        own = getattr(module, "VARIANTS", None)  # a config file with variants of its own
        for variant in ("", *own) if own is not None else ("", "quick", "cpu"):
            cfg = module.get_config(variant)
            model = get_model(cfg.model)
            features = get_builder(cfg.data.name, cfg.data.config).info.features
            if model.input_spec.field == "image":
                size = features["image"].shape[:2]
                assert size == model.input_spec.shape[:2], (f.stem, variant)
            else:  # points (pinwheel)
                assert model.input_spec.shape == (2,), (f.stem, variant)
    genesis = importlib.import_module("experiments.configs.genesis_multi_dsprites")
    assert genesis.get_config("cpu32") == genesis.get_config("cpu")  # the old name still works


def test_paper_table_markdown():
    from ocg_jax.analysis.compare import side_by_side

    def result(seed, nll, with_masks):
        metrics = {"nll": nll} | (
            {"ari_fg": 0.5, "sc_fg": 0.4, "msc_fg": 0.3} if with_masks else {}
        )
        return {
            "seed": seed,
            "metrics": metrics,
            "frechet": {"test_vs_samples": 10.0 + seed},
            "probes": {"latents": {"a": {"logistic": 0.2}, "b": {"logistic": 0.4}}},
            "timing": {"train_step_ms_median": 100.0},
        }

    text = side_by_side(
        {
            ("tetrominoes", "monet"): [result(0, 1.0, True), result(1, 3.0, True)],
            ("tetrominoes", "dc_vae"): [result(0, 5.0, False)],
        }
    )
    lines = text.strip().splitlines()
    assert lines[0].startswith("| dataset | model | seeds | nll | ari_fg")
    assert "| tetrominoes | monet | 0,1 | 2 ± 1 | 0.5 ± 0 |" in lines[2]
    assert "10.5 ± 0.5" in lines[2] and "0.3 ± 0" in lines[2]  # FD; probe mean over labels
    assert "| tetrominoes | dc_vae | 0 | 5 ± 0 | n/a | n/a | n/a |" in lines[3]


def test_label_rows():
    from ocg_jax import viz

    img = viz.grid([np.ones((4, 8, 8, 3)) for _ in range(2)])
    out = viz.label_rows(img, ["a", "bb"], width=30)
    assert out.shape == (img.shape[0], img.shape[1] + 30, 3)
    assert out[:, :30].min() < 128  # text was drawn
    np.testing.assert_array_equal(out[:, 30:], img)
