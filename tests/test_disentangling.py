"""Disentangling Disentanglement: priors, the D(q(z), p(z)) estimators, the data, the model
on the elbo recipe, and short runs through the launchers' path (train, evaluate, pictures)."""

import gzip
import json
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import distributions as dist
from scipy import stats

from ocg_jax.data import dsprites
from ocg_jax.data.builders.fashion_mnist_files.fashion_mnist_files_dataset_builder import (
    read_fashion_mnist,
)
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.models.registry import get_model
from ocg_jax.objectives.divergences import imq_mmd, minibatch_kl
from ocg_jax.objectives.priors import Prior, PriorSpec, prior_distribution
from ocg_jax.train.recipes import build

Z = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32) * 1.5


# -- priors ----------------------------------------------------------------------------
def test_prior_log_densities_match_scipy():
    lp = lambda spec, **kw: np.asarray(prior_distribution(PriorSpec(**spec), 3, **kw).log_prob(Z))
    np.testing.assert_allclose(
        lp({"variance": 2.0}), stats.norm(0, np.sqrt(2)).logpdf(Z).sum(1), rtol=1e-5
    )
    np.testing.assert_allclose(
        lp({"name": "student_t", "df": 9.0}), stats.t(9).logpdf(Z).sum(1), rtol=1e-5
    )
    log_var = np.array([1.0, 0.0, -1.0], np.float32)  # variances 3 * softmax: total 3
    var = 3 * np.exp(log_var) / np.exp(log_var).sum()
    got = lp({"name": "anisotropic", "log_variances": tuple(log_var)})
    np.testing.assert_allclose(got, stats.norm(0, np.sqrt(var)).logpdf(Z).sum(1), rtol=1e-5)
    sparse = 0.8 * stats.norm(0, 0.05).pdf(Z) + 0.2 * stats.norm(0, 1).pdf(Z)
    np.testing.assert_allclose(lp({"name": "sparse"}), np.log(sparse).sum(1), rtol=1e-4, atol=1e-4)
    spec = PriorSpec("mixture", variance=0.03)
    z2 = Z[:, :2]
    mixture = np.mean([stats.multivariate_normal(m, 0.03).pdf(z2) for m in spec.means], axis=0)
    got = np.asarray(prior_distribution(spec, 2).log_prob(z2))
    np.testing.assert_allclose(got, np.log(mixture), rtol=1e-4)


def test_prior_samples_have_the_prior_moments():
    rng = jax.random.PRNGKey(0)
    aniso = PriorSpec("anisotropic", log_variances=(1.0, 0.0, -1.0))
    z = np.asarray(prior_distribution(aniso, 3).sample(rng, (20_000,)))
    var = 3 * np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(z.var(0), var, rtol=0.05)
    z = np.asarray(prior_distribution(PriorSpec("sparse"), 3).sample(rng, (20_000,)))
    assert abs(np.mean(np.abs(z) < 0.15) - (0.8 + 0.2 * 0.12)) < 0.02  # 0.8 narrow + tail
    z = np.asarray(prior_distribution(PriorSpec("mixture", variance=0.03), 2).sample(rng, (8000,)))
    nearest = np.argmin(((z[:, None] - np.array(PriorSpec().means)[None]) ** 2).sum(-1), 1)
    np.testing.assert_allclose(np.bincount(nearest) / len(z), 0.25, atol=0.02)


def test_prior_settings_are_checked():
    with pytest.raises(ValueError, match="unknown prior 'laplace'"):
        PriorSpec.parse({"name": "laplace"})
    with pytest.raises(ValueError, match=r"unknown prior option\(s\) \['dof'\]"):
        PriorSpec.parse({"name": "student_t", "dof": 3})
    with pytest.raises(ValueError, match="2 entries for 3 latents"):
        prior_distribution(PriorSpec("anisotropic", log_variances=(0.0, 1.0)), 3)
    with pytest.raises(ValueError, match="latent size 3"):
        prior_distribution(PriorSpec("mixture"), 3)
    assert PriorSpec.parse({"name": "mixture", "means": [[0, 1], [1, 0]]}).means == (
        (0.0, 1.0),
        (1.0, 0.0),
    )


# -- D(q(z), p(z)) ----------------------------------------------------------------------
def test_minibatch_kl_is_zero_when_q_is_p_and_known_for_a_shift():
    prior = Prior(dist.Normal(jnp.zeros(2), 1.0).to_event(1))
    ones = jnp.ones((4000, 2))
    rng = jax.random.PRNGKey(0)
    assert abs(float(minibatch_kl(prior, 0 * ones, ones, rng))) < 1e-5
    # q(z|x_i) = N(m, 1) for all i: KL(p || q) = |m|^2 / 2 = 0.25 (a Monte-Carlo mean)
    got = float(minibatch_kl(prior, 0.5 * ones, ones, rng))
    assert abs(got - 0.25) < 0.03
    # a q that misses a prior mode is penalised: KL(p || q) grows
    narrow = float(minibatch_kl(prior, ones * 2.0, 0.1 * ones, rng))
    assert narrow > 10


def test_imq_mmd_against_a_direct_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(1.0, 1.0, size=(6, 3))
    want = 0.0
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0):
        k = lambda a, b, c=2 * s: np.sum(c / (c + (a - b) ** 2))
        b = len(x)
        same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(b) for j in range(b) if i != j)
        cross = sum(k(x[i], y[j]) for i in range(b) for j in range(b))
        want += same / (b * (b - 1)) - 2 * cross / b**2
    got = float(imq_mmd(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    same = [
        float(imq_mmd(*jax.random.normal(jax.random.PRNGKey(i), (2, 64, 3)))) for i in range(20)
    ]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(20) + 1e-3  # unbiased: mean 0
    assert got > 10 * abs(np.mean(same))
    with pytest.raises(ValueError, match="B >= 2"):
        imq_mmd(jnp.zeros((1, 2)), jnp.zeros((1, 2)))


# -- data ---------------------------------------------------------------------------------
def test_dsprites_grid_and_renderer(data_dir):
    assert dsprites.NUM_IMAGES == 737_280
    np.testing.assert_array_equal(dsprites.factor_classes(0), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(dsprites.factor_classes(737_279), [2, 5, 39, 31, 31])
    np.testing.assert_array_equal(dsprites.factor_classes(32 * 32 + 33), [0, 0, 1, 1, 1])
    values = dsprites.factor_values(dsprites.factor_classes([737_279]))[0]
    np.testing.assert_allclose(values, [3.0, 1.0, 2 * np.pi, 1.0, 1.0], rtol=1e-6)
    ex = load_examples(load_source("dsprites", "tiny", "train", data_dir), 32)
    assert ex["image"].shape == (32, 64, 64, 1) and set(np.unique(ex["image"])) == {0, 255}
    for image, classes, vals in zip(ex["image"], ex["factors"], ex["values"], strict=True):
        np.testing.assert_array_equal(image, dsprites.render(classes))
        np.testing.assert_allclose(vals, dsprites.factor_values(classes))
    # bigger scale, more pixels
    small, big = (dsprites.render([1, s, 0, 16, 16]).sum() for s in (0, 5))
    assert big > 2.5 * small
    test = load_examples(load_source("dsprites", "tiny", "test", data_dir), 256)
    train = load_examples(load_source("dsprites", "tiny", "train", data_dir), 512)
    index = lambda f: set(np.ravel_multi_index(f.T, dsprites.FACTOR_SIZES).tolist())
    assert not index(train["factors"]) & index(test["factors"])  # subsets: disjoint splits


def test_dsprites_original_npz_from_the_manual_dir(tmp_path):
    idx = np.array([0, 5000, 300_000, 737_279, 123_456, 654_321])
    classes = dsprites.factor_classes(idx)
    imgs = np.stack([dsprites.render(c)[..., 0] // 255 for c in classes]).astype(np.uint8)
    manual = tmp_path / "manual"
    manual.mkdir()
    np.savez_compressed(  # the original's layout: colour first, images 0/1
        manual / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        imgs=imgs,
        latents_classes=np.concatenate([np.zeros((6, 1), int), classes], 1).astype(np.int64),
        latents_values=np.concatenate([np.ones((6, 1)), dsprites.factor_values(classes)], 1),
    )
    source = load_source(
        "dsprites", "original", "train", str(tmp_path / "tfds"), manual_dir=str(manual)
    )
    ex = load_examples(source, 6)  # tfds stores examples in its own (hashed) order
    order = np.argsort(np.ravel_multi_index(ex["factors"].T, dsprites.FACTOR_SIZES))
    np.testing.assert_array_equal(ex["factors"][order], classes[np.argsort(idx)])
    np.testing.assert_array_equal(ex["image"][order, ..., 0], imgs[np.argsort(idx)] * 255)
    with pytest.raises(FileNotFoundError, match="dsprites_ndarray_co1sh3sc6or40x32y32"):
        load_source("dsprites", "original", "train", str(tmp_path / "other"))


def test_pinwheel_points(data_dir):
    train = load_examples(load_source("pinwheel", None, "train", data_dir), 400)
    test = load_examples(load_source("pinwheel", None, "test", data_dir), 400)
    assert train["point"].shape == (400, 2) and train["point"].dtype == np.float32
    np.testing.assert_array_equal(np.bincount(train["arm"]), [100] * 4)
    assert not np.allclose(np.sort(train["point"], 0), np.sort(test["point"], 0))
    r = np.linalg.norm(train["point"], axis=1)  # radius ~ N(1, 0.3^2) (tangent 0.1 small)
    assert abs(np.median(r) - 1.0) < 0.08 and 0.22 < np.std(r) < 0.38
    # each arm starts near its angle 2 pi k / 4 + 0.25 e and winds with the radius
    for k in range(4):
        p = train["point"][train["arm"] == k]
        angle = np.arctan2(-p[:, 1], p[:, 0])  # the original rotates row vectors
        expected = 2 * np.pi * k / 4 + 0.25 * np.exp(np.linalg.norm(p, axis=1))
        diff = np.angle(np.exp(1j * (angle - expected)))
        assert np.median(np.abs(diff)) < 0.15


def _write_idx(path, array, compress):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_the_users_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    manual = tmp_path / "fashion"
    manual.mkdir()
    data = {}
    for split, prefix, n in (("train", "train", 24), ("test", "t10k", 10)):
        x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
        _write_idx(manual / f"{prefix}-images-idx3-ubyte.gz", x, True)
        _write_idx(manual / f"{prefix}-labels-idx1-ubyte", y, False)
        data[split] = x, y
    got = read_fashion_mnist(manual)
    np.testing.assert_array_equal(got["test"][0], data["test"][0])
    tfds_dir = str(tmp_path / "tfds")
    source = lambda split: load_source(
        "fashion_mnist_files", None, split, tfds_dir, manual_dir=str(manual)
    )
    train, val = load_examples(source("train"), 22), load_examples(source("validation"), 2)
    assert train["image"].shape == (22, 32, 32, 1)
    from ocg_jax.data.builders.fashion_mnist_files.fashion_mnist_files_dataset_builder import (
        resize32,
    )

    rows = lambda x, y: sorted((a.tobytes(), int(b)) for a, b in zip(x, y, strict=True))
    x, y = data["train"]  # the last twelfth (2) is validation; tfds stores its own order
    big = lambda images: np.stack([resize32(i) for i in images])  # bilinear, as the original
    assert rows(train["image"][..., 0], train["label"]) == rows(big(x[:22]), y[:22])
    assert rows(val["image"][..., 0], val["label"]) == rows(big(x[22:]), y[22:])
    (manual / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        read_fashion_mnist(manual)


def test_the_sparsity_config_trains_and_reports_hoyer_and_log_likelihood(tmp_path):
    """The sparsity experiment as the original's ``sparsity.sh``, from IDX files the test
    writes: DCGAN networks with batch norm, Laplace likelihood, sparse prior, MMD."""
    from experiments.configs import dd_fashion_mnist
    from ocg_jax.analysis.evaluation import evaluate_run
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    rng = np.random.default_rng(0)
    manual = tmp_path / "fashion"
    manual.mkdir()
    for prefix, n in (("train", 48), ("t10k", 16)):
        _write_idx(manual / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 0)
        _write_idx(manual / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), False)
    c = dd_fashion_mnist.get_config("quick")
    c.data.update(data_dir=str(tmp_path / "tfds"), manual_dir=str(manual))
    c.num_steps, c.eval_every, c.checkpoint_every, c.eval_images, c.batch_size = 2, 2, 2, 4, 8
    c.model.nf = 8
    train_and_evaluate(c, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    assert run.model.net.arch == "dcgan" and "batch_stats" in run.variables
    result = evaluate_run(run, num_images=16, fd_images=0, probe_train_images=0,
                          iw_samples=4, iw_images=8, progress=False)  # fmt: skip
    assert 0.0 <= result["disentanglement"]["hoyer"] <= 1.0
    assert result["log_likelihood"]["importance_samples"] == 4
    assert np.isfinite(result["log_likelihood"]["log_likelihood"])


def test_the_importance_weighted_estimate_bounds_the_elbo():
    """log p(x) >= E[log p(x|z) + log p(z) - log q(z|x)] (the ELBO), and the bound tightens
    with more samples: the k-sample estimate's mean rises with k."""
    model = get_model({"name": "dd_vae", "data": "image", "image_size": 32, "latent": 4})
    x = (np.random.default_rng(0).uniform(size=(8, 32, 32, 1)) > 0.7).astype(np.float32)
    v = model.init(jax.random.PRNGKey(0), jnp.asarray(x))
    apply = jax.jit(lambda v, x, rng: model.apply(v, x, rng, train=False)[0].losses)
    elbos = [-sum(apply(v, x, jax.random.PRNGKey(s)).values()) for s in range(20)]
    iw_fn = jax.jit(model.importance_log_likelihood, static_argnums=3)
    iw = lambda k: np.mean(iw_fn(v, x, jax.random.PRNGKey(1), k))
    one, many = iw(1), iw(32)
    assert abs(one - np.mean(elbos)) < 0.02 * abs(np.mean(elbos))  # k = 1: the ELBO itself
    assert many > np.mean(elbos)


# -- the model on the elbo recipe --------------------------------------------------------
def _pinwheel_config(**overrides):
    from experiments.configs import dd_pinwheel

    c = dd_pinwheel.get_config("quick")
    for key, value in overrides.items():
        c[key] = value
    return c


def test_alpha_and_beta_weight_the_loss():
    c = _pinwheel_config(beta=0.5)
    c.alpha = 2.0  # a FieldReference: config.regularizers.divergence follows it
    assert c.regularizers.divergence == 2.0
    model = get_model(c.model)
    recipe = build(model, c)
    state = recipe.init(jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    loss, (m, _, _) = recipe.loss(state.params, state, {"point": x}, jax.random.PRNGKey(1))
    np.testing.assert_allclose(loss, m["nll"] + 0.5 * m["kl"] + 2.0 * m["divergence"], rtol=1e-5)
    assert float(m["divergence"]) != 0.0


def test_kl_is_closed_form_for_gaussians_and_monte_carlo_otherwise():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 2)), jnp.float32)
    for prior, closed in (({"name": "isotropic"}, True), ({"name": "student_t"}, False)):
        model = get_model({"name": "dd_vae", "data": "point", "latent": 2, "prior": prior})
        v = model.init(jax.random.PRNGKey(0), x)
        outs = [model.apply(v, x, jax.random.PRNGKey(i), train=True)[0] for i in range(200)]
        kls = np.stack([np.asarray(o.losses["kl"]) for o in outs])
        if closed:  # the same analytic value for every sample of z
            np.testing.assert_allclose(kls.std(0), 0.0, atol=1e-5)
            p = dist.Normal(0.0, 1.0)
            want = dist.kl_divergence(dist.Normal(outs[0].z_mean, outs[0].z_std), p).sum(-1)
            np.testing.assert_allclose(kls[0], want, rtol=1e-5)
        else:  # unbiased one-sample estimates around the true KL (positive)
            assert kls.std(0).min() > 0 and (kls.mean(0) > 0).all()


def test_learned_prior_variances_get_gradients_only_when_learned():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 2)), jnp.float32)
    for learn in (False, True):
        prior = {"name": "anisotropic", "log_variances": (0.5, -0.5), "learn": learn}
        model = get_model({"name": "dd_vae", "data": "point", "latent": 2, "prior": prior})
        v = model.init(jax.random.PRNGKey(0), x)
        reg = model.batch_regularizers()["divergence"]

        def loss(params, model=model, reg=reg):
            out, _ = model.apply({"params": params}, x, jax.random.PRNGKey(1), train=True)
            return out.losses["kl"].mean() + reg(out, None, jax.random.PRNGKey(2))

        g = jax.grad(loss)(v["params"])["prior_log_variances"]
        assert (np.abs(np.asarray(g)).max() > 0) == learn


def test_image_model_shapes_and_bad_settings():
    model = get_model({"name": "dd_vae", "image_size": 64, "latent": 4})
    x = jnp.zeros((2, 64, 64, 1))
    v = model.init(jax.random.PRNGKey(0), x)
    out, _ = model.apply(v, x, jax.random.PRNGKey(1), train=True)
    assert out.recon.shape == (2, 64, 64, 1) and out.z.shape == (2, 4)
    assert float(out.recon.min()) >= 0 and float(out.recon.max()) <= 1  # probabilities
    with pytest.raises(ValueError, match="divergence must be one of"):
        get_model({"name": "dd_vae", "divergence": "wasserstein"})
    with pytest.raises(ValueError, match="unknown prior"):
        get_model({"name": "dd_vae", "prior": {"name": "cauchy"}})


def test_dsprites_networks_have_the_originals_parameter_count():
    """iffsid's ``Enc`` and ``Dec`` for dSprites (counted in PyTorch): 547,189 parameters; the
    prior's 10 log-variances sit beside them (trained only when learned)."""
    from experiments.configs import dd_dsprites

    model = get_model(dd_dsprites.get_config("").model)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 1)))
    params = shapes["params"]
    count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))
    assert count(params["encoder"]) + count(params["decoder"]) == 547_189
    assert params["prior_log_variances"].shape == (10,)
    widths = [params["decoder"][f"UpConv4_{i}"]["kernel"].shape[-1] for i in range(4)]
    assert widths == [64, 64, 32, 1]  # after the 64-channel 4x4 map: 64 -> 64 -> 64 -> 32 -> 1


def test_the_pca_profile_is_the_originals_svds_quirk():
    """``svds(k=20)`` of the uncentred images lists singular values in ascending order, so the
    original's first 10 are the 20th down to the 11th largest, squared and logged."""
    images = np.random.default_rng(0).integers(0, 256, (60, 8, 8, 1), dtype=np.uint8)
    profile = dsprites.pca_log_variances_original(images)
    s = np.linalg.svd(images.reshape(60, -1) / 255.0, compute_uv=False)  # descending
    np.testing.assert_allclose(profile, np.log(s[19:9:-1] ** 2), rtol=1e-4)
    assert np.all(np.diff(profile) > 0)  # smallest first
    top = dsprites.pca_log_variances(images)  # the paper's description: the top 10, centred
    assert np.all(np.diff(top) < 0)  # largest first


# -- runs -------------------------------------------------------------------------------
@pytest.mark.optimised
def test_pinwheel_decomposition_uses_every_prior_cluster(data_dir):
    """The paper's demonstration, 500 full-batch steps of the configs' recipes, seeds 0-3 (the
    launcher path is the notebook's and the next test's): with (beta=0, alpha=1) the test
    encodings spread over all 4 components of the mixture prior in every seed; with
    (beta=1, alpha=0) components stay empty in some (docs/disentangling.md: 8 seeds)."""
    from experiments.configs import dd_pinwheel
    from ocg_jax.analysis.disentangling import pinwheel_scores

    scores = {
        v: pinwheel_scores(dd_pinwheel.get_config(v), range(4), data_dir) for v in ("", "vae")
    }
    balance = {v: [s["component_balance"] for s in ss] for v, ss in scores.items()}
    # measured (amsgrad_torch): 1.0, 0.90, 1.0, 1.0 against 1.0, 0.50, 1.0, 0.51
    assert np.mean(balance[""]) > 0.9 and min(balance[""]) > 0.75, balance
    assert np.mean(balance[""]) > np.mean(balance["vae"]) + 0.15, balance


def test_dsprites_quick_run_is_scored_and_drawn(tmp_path, data_dir):
    from PIL import Image

    from experiments.configs import dd_dsprites
    from ocg_jax.analysis.compare import flat_metrics
    from ocg_jax.analysis.disentangling import CHANCE_KEYS
    from ocg_jax.analysis.evaluation import evaluate_run, format_table
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    c = dd_dsprites.get_config("quick,student_t")
    c.data.data_dir, c.num_steps, c.eval_every, c.model.latent = data_dir, 4, 4, 4
    train_and_evaluate(c, tmp_path / "run", progress=False)
    result = evaluate_run(
        load_run(tmp_path / "run"), num_images=32, disentanglement_images=128,
        iw_images=8, iw_samples=4, progress=False,
    )  # fmt: skip
    d = result["disentanglement"]
    for key in ("disentanglement_score", "disentanglement_score_t", "mig", "hoyer"):
        assert 0.0 <= d[key] <= 1.0, key
    assert {"dci_disentanglement", "dci_completeness", "dci_informativeness"} <= set(d)
    assert set(d["chance"]) == set(CHANCE_KEYS)  # the trivial baseline beside the scores
    assert d["num_images"] == 128 and "mig" in format_table(result)
    mig = next(line for line in format_table(result).splitlines() if line.startswith("mig "))
    assert mig.split()[1:] == [f"{d['mig']:.4f}", f"{d['chance']['mig']:.4f}"]  # codes, chance
    row = flat_metrics(result)  # experiments.compare's columns
    assert (row["mig"], row["chance_mig"]) == (d["mig"], d["chance"]["mig"])
    assert result["log_likelihood"]["importance_samples"] == 4
    json.dumps(result)  # eval.json
    images = tmp_path / "run" / "images"
    traversals = np.asarray(Image.open(images / "traversals_0000004.png"))
    samples = np.asarray(Image.open(images / "samples_0000004.png"))
    assert traversals.shape[0] > 3 * samples.shape[0]  # a row per latent dimension
    assert (images / "reconstructions_0000004.png").exists()
