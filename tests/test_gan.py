"""The DCGAN-style baseline: both losses, the generator's stages, a tiny run end to end."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ocg_jax.models.registry import get_model

ROOT = Path(__file__).resolve().parents[1]

TINY = {"name": "gan", "image_size": 32, "z_dim": 8, "nf_gen": 8, "nf_disc": 8}


@pytest.mark.parametrize("loss", ["hinge", "wgan_gp"])
def test_phases_losses_and_state(loss):
    model = get_model({**TINY, "loss": loss})
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)), jnp.float32)
    variables = model.init(jax.random.PRNGKey(0), x)
    assert set(variables["params"]) == set(model.groups)
    spectral = bool(variables["batch_stats"]["discriminator"])
    assert spectral == (loss == "hinge")  # WGAN-GP's penalty replaces spectral norm
    d_loss, (m, state) = model.phase_loss("discriminator", variables, x, jax.random.PRNGKey(1))
    g_loss, _ = model.phase_loss("generator", variables, x, jax.random.PRNGKey(1))
    # the generator's loss is -mean D(fake); each phase draws its own noise (the phase's
    # index folded into the step's key)
    z_rng = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(1), 1))[0]
    fake, _ = model.generate(variables, model.noise(z_rng, 4), True)
    assert float(g_loss) == pytest.approx(
        -float(model.discriminate(variables, fake)[0].mean()), abs=1e-5
    )
    if loss == "hinge":
        assert float(d_loss) == pytest.approx(
            max(0, 1 - float(m["d_real"])) + max(0, 1 + float(m["d_fake"])), abs=0.05
        )
    else:
        assert float(m["gradient_penalty"]) > 0
        assert float(d_loss) == pytest.approx(
            float(m["d_fake"] - m["d_real"] + 10 * m["gradient_penalty"]), rel=1e-5
        )
    assert jax.tree.structure(state) == jax.tree.structure(
        {"batch_stats": variables["batch_stats"]}
    )


def test_generator_moving_average_moves_each_step_and_is_what_samples_use():
    """``config.adversarial.ema.generator``: after a step the average is ``d * old + (1 - d)
    * new`` of the generator's parameters only, and its own running statistics have moved;
    samples and inversion (``generate`` outside training) draw from the average with its
    statistics, training from the live parameters."""
    from experiments.configs import gan_multi_dsprites
    from ocg_jax.train.recipes import build
    from ocg_jax.train.recipes.base import variables

    c = gan_multi_dsprites.get_config("quick,hinge,ema")
    c.adversarial.ema.generator = 0.9
    model = get_model(c.model.to_dict())
    recipe = build(model, c)
    state = recipe.init(jax.random.PRNGKey(0))
    assert (
        set(state.model_state["ema"]) == set(state.model_state["ema_batch_stats"]) == {"generator"}
    )
    first = state.params["generator"]
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), np.uint8)
    new, _ = jax.jit(recipe.train_step)(state, {"image": images})
    expected = jax.tree.map(lambda a, b: 0.9 * a + 0.1 * b, first, new.params["generator"])
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), first, new.params["generator"])
    assert max(jax.tree.leaves(moved)) > 1e-4  # the step moved the generator
    averaged = jax.tree.leaves(new.model_state["ema"]["generator"])
    for got, want in zip(averaged, jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    z = model.noise(jax.random.PRNGKey(2), 4)
    v = variables(new)
    first_stats = jax.tree.leaves(state.model_state["ema_batch_stats"]["generator"])
    stats = v["ema_batch_stats"]["generator"]
    pairs = zip(first_stats, jax.tree.leaves(stats), strict=True)
    assert not all(np.allclose(a, b) for a, b in pairs)
    averaged = {"params": v["ema"]["generator"], "batch_stats": stats}
    np.testing.assert_allclose(
        model.generate(v, z)[0], model.net.generator.apply(averaged, z, False), atol=1e-6
    )
    live = {"params": v["params"]["generator"], "batch_stats": v["batch_stats"]["generator"]}
    assert not np.allclose(model.generate(v, z)[0], model.net.generator.apply(live, z, False))
    c.adversarial.ema = {"discriminatorr": 0.9}
    with pytest.raises(ValueError, match="config.adversarial.ema maps parameter groups"):
        build(model, c)


def random_code(model, n: int):
    """A code of ``n`` images for the model's ``Decoder``."""
    key, net = jax.random.PRNGKey(3), model.net
    if model.name == "genesis":
        k = net.num_slots
        zc = jax.random.normal(jax.random.fold_in(key, 1), (n, k, net.zc_dim))
        return {"zm": jax.random.normal(key, (n, k, net.zm_dim)), "zc": zc}
    if model.name == "monet":
        return jax.random.normal(key, (n, net.num_slots, net.zc_dim))
    return jax.random.normal(key, (n, net.z_dim if model.name == "gan" else net.latent))


def test_a_search_run_in_blocks_is_the_search_run_at_once():
    """The bar moves every block; Adam's moments and count, and L-BFGS's memory, carry
    over from block to block (a reset would change the result), and the blocks compile once."""
    from ocg_jax.analysis import inversion as inv

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    model = get_model(TINY)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))
    decoder, z0 = inv.Decoder(model), random_code(model, 2)
    targets = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 3), minval=-1.0)
    features = lambda x: x.reshape(len(x), -1)[:, ::7]
    start = jax.vmap(lambda x, t: inv.image_loss(features, x, t))(decoder(variables, z0), targets)
    shapes, names, _ = inv.residual_stages(decoder, variables, z0, 32 * 32 * 3)
    layerwise = inv.LayerwiseSearch(decoder, features, tuple((k, shapes[k]) for k in names))
    searches = [(layerwise, 60)] + [
        (inv.CodeSearch(decoder, features, per_image), 12) for per_image in (True, False)
    ]
    for searcher, steps in searches:
        once, loss_once = inv.search(searcher, variables, z0, targets, steps, block=steps)
        bar, compiled = Bar(), type(searcher).advance._cache_size()
        blocks, loss_blocks = inv.search(searcher, variables, z0, targets, steps, steps // 3, bar)
        assert bar.n == 2 * steps  # image-steps
        assert type(searcher).advance._cache_size() == compiled + 1  # the blocks share a compile
        np.testing.assert_allclose(blocks, once, atol=1e-5)
        np.testing.assert_allclose(loss_blocks, loss_once, rtol=1e-5)
        assert np.all(np.asarray(loss_once) < np.asarray(start)), (loss_once, start)
    with pytest.raises(ValueError, match="z_search must be 'per_image' or 'joint'"):
        inv.check_z_search("both")


@pytest.mark.parametrize("name", ["gan", "dc_vae", "monet", "genesis"])
def test_decoder_stages_take_deltas_from_outside(name, family_run):
    from ocg_jax.analysis.inversion import Decoder
    from ocg_jax.analysis.runs import load_run

    if name == "gan":
        model = get_model(TINY)
        variables = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))
    else:  # the engine tests' runs
        run = load_run(family_run(name)[0])
        model, variables = run.model, run.variables
    decoder = Decoder(model)
    code = random_code(model, 2)
    plain = jax.jit(decoder)(variables, code)
    with_deltas = jax.jit(decoder.with_deltas)  # one trace: every call passes every stage
    shapes = decoder.stage_shapes(variables, code)
    first = {"gan": "Dense_0", "dc_vae": "dec/Dense_0", "monet": "decoder/Conv_0"}
    assert next(iter(shapes)) == first.get(name, "mask_decoder/Dense_0") and len(shapes) >= 3
    k = getattr(model.net, "num_slots", 1)  # a stage holds each component of each image
    sizes = {s[0] for s in shapes.values()}
    assert sizes == ({2 * (k - 1), 2 * k} if name == "genesis" else {2 * k})
    assert decoder.stage_shapes(variables, code) == shapes  # again: no cached trace hides them
    zeros = {k: jnp.zeros(s) for k, s in shapes.items()}
    np.testing.assert_allclose(with_deltas(variables, code, zeros), plain, atol=1e-6)
    early = decoder.early_stages(shapes, None)
    if name == "genesis":  # the first half of each of its two decoders
        assert early[0].startswith("mask_decoder/") and early[-1].startswith("comp_decoder/")
    for key in {early[0], early[-1]}:
        nudged = with_deltas(variables, code, zeros | {key: jnp.ones(shapes[key])})
        assert float(jnp.abs(nudged - plain).max()) > 1e-4, key
    with pytest.raises(ValueError, match="no decoder to invert"):
        Decoder(get_model({"name": "redo", "image_size": 32}))


def test_a_generator_from_2x2_leaves_the_residual_under_half_the_pixel_values():
    """``:cpu`` widths: DCGAN's 4x4x128 stage alone is 2,048 of the 3,072 pixel values;
    ``from2x2`` starts at 2x2x256, so the default residual (Dense_0) and the code stay
    under half; ``first_width`` sets that stage's channels, and ``bounded`` the widest
    whose stage and code fit in half (4x4x88 + 128 = 1,536 exactly)."""
    from experiments.configs import gan_multi_dsprites
    from ocg_jax.analysis import inversion as inv

    cases = (("cpu", 0, 4, 128, []), ("cpu,from2x2", 0, 2, 256, ["Dense_0"]),
             ("cpu", 64, 4, 64, ["Dense_0"]),
             ("cpu,bounded", None, 4, 88, ["Dense_0"]))  # fmt: skip
    for variant, width, side, first, stages in cases:
        config = gan_multi_dsprites.get_config(variant)
        if width is not None:
            config.model.first_width = width
        model = get_model(config.model)
        variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)))
        kernels = {k: v["kernel"].shape for k, v in variables["params"]["generator"].items()
                   if k.startswith(("Dense", "UpConv"))}  # fmt: skip
        ups = [(first, 128)] if side == 2 else []
        ups += [(first if side == 4 else 128, 64), (64, 32), (32, 3)]
        expected = {f"UpConv4_{i}": (4, 4, a, b) for i, (a, b) in enumerate(ups)}
        assert kernels == {"Dense_0": (128, side * side * first), **expected}
        shapes = inv.Decoder(model).stage_shapes(variables, random_code(model, 1))
        assert shapes["Dense_0"][-1] == side * side * first
        fits = inv.Decoder(model).early_stages(shapes, None, 32 * 32 * 3 // 2 - 128)
        assert fits == (stages or ["Dense_0"])  # at least one stage, even over the budget
        assert (int(np.prod(shapes["Dense_0"])) + 128 <= 32 * 32 * 3 // 2) == bool(stages)
        images = model.generate(jax.tree.map(jnp.zeros_like, variables), random_code(model, 2))[0]
        assert images.shape == (2, 32, 32, 3)


def test_bounded_caps_the_first_stage_at_half_the_pixel_values_and_at_dcgans_width():
    from experiments.configs import gan_multi_dsprites

    for variant, width in (("bounded", 376), ("quick,bounded", 32), ("cpu,from2x2,bounded", 256)):
        model = gan_multi_dsprites.get_config(variant).model
        assert model.first_width == width, variant
        free = model.first_size**2 * width + model.z_dim
        assert free <= model.image_size**2 * 3 // 2, variant


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="image_size must be 32 or 64"):
        get_model({**TINY, "image_size": 48})
    with pytest.raises(ValueError, match="first_width must be >= 0"):
        get_model({**TINY, "first_width": -1})
    with pytest.raises(ValueError, match="first_size must be 2 or 4"):
        get_model({**TINY, "first_size": 8})
    with pytest.raises(ValueError, match="model.loss must be one of"):
        get_model({**TINY, "loss": "least_squares"})


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, data_dir):
    """``(workdir, run)``: the ``:quick`` WGAN-GP config on multi-dSprites (2 critic steps;
    its tiny_32px data, segmenter and scene net are the other tests' too)."""
    from experiments.configs import gan_multi_dsprites
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    c = gan_multi_dsprites.get_config("quick")
    c.data.data_dir = data_dir
    c.adversarial.repeats.discriminator = 2
    workdir = tmp_path_factory.mktemp("gan") / "run"
    train_and_evaluate(c, workdir, progress=False)
    return workdir, load_run(workdir)


@pytest.mark.optimised
def test_tiny_run_trains_samples_and_evaluates(gan_run):
    from ocg_jax.analysis.evaluation import evaluate_run

    workdir, run = gan_run
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "generator_loss" in r]
    assert steps and all(np.isfinite(r["discriminator_loss"]) for r in steps)
    assert all("gradient_penalty" in r and "d_real" in r for r in steps)
    assert any(p.name.startswith("samples") for p in (workdir / "images").iterdir())
    result = evaluate_run(
        run,
        num_images=16,
        batch_size=8,
        fd_images=16,
        fd_samples=16,
        feature_net_steps=20,
        probe_train_images=0,
    )
    assert np.isfinite(result["metrics"]["d_real"])
    assert result["frechet"]["test_vs_samples"] > 0


@pytest.mark.optimised
def test_layerwise_and_z_inversion_descend_from_the_encoder(gan_run, tmp_path, capsys):
    # the library behind experiments.invert (in-process; see test_segment_stats_of_a_run)
    from ocg_jax.analysis.inversion import format_report, run_inversion

    report = run_inversion(
        gan_run[1], 2, 100, 20, segmenter_steps=150, feature_net_steps=20, out_dir=tmp_path,
        progress=True,
    )  # fmt: skip
    bars = capsys.readouterr().err  # every stage that trains or searches shows a bar
    for stage in ("hybrid encoder: invert Dense_0", "fine-tune", "z: 100 steps", "layerwise"):
        assert stage in bars, bars[-2000:]
    assert report["encoder"] == "hybrid: inverses of Dense_0, BatchNorm_0 over a conv bottom"
    assert report["features"] == "the dataset's scene net"
    assert report["z_search"] == "per_image L-BFGS"  # the paper's
    assert set(report["encoder_losses"]) == {
        "invert Dense_0", "invert BatchNorm_0", "bottom", "hybrid", "z_mse"
    }  # fmt: skip
    assert json.loads((tmp_path / "inversion.json").read_text())["methods"] == report["methods"]
    loss = {m: r["objective"] for m, r in report["methods"].items()}
    assert set(loss) == {"encoder", "z", "layerwise"}
    # both searches start from the encoder's code and descend the same image loss (L1 on
    # pixels and features; which one reconstructs better is for experiments.invert)
    assert loss["z"] < loss["encoder"] and loss["layerwise"] < loss["encoder"], loss
    # the residuals: as many early stages as fit in half the 32x32x3 pixel values (z: 16)
    free = {m: r["free_parameters"] for m, r in report["methods"].items()}
    assert report["stages_with_deltas"] == ["Dense_0", "BatchNorm_0"]
    assert free == {"encoder": 0, "z": 16, "layerwise": 16 + 2 * 4 * 4 * 32}
    assert {r["pixel_values"] for r in report["methods"].values()} == {32 * 32 * 3}
    assert "warning" not in report
    classes = report["methods"]["layerwise"]["class_area_error"]
    assert "background" in classes and all(v >= 0 for v in classes.values())
    rows = report["methods"]["layerwise"]["class_areas"]  # mean areas, real vs reconstructed
    assert abs(sum(r["real_area"] for r in rows) - 100.0) < 1e-3
    for r in rows:  # a gap between the means is at most the mean per-image error
        assert abs(r["generated_area"] - r["real_area"]) <= classes[r["class"]] + 1e-6
    assert (tmp_path / "inversion.png").exists()
    assert "layerwise" in format_report(report)


def test_the_feature_loss_reads_vgg_where_the_user_has_its_weights(gan_run, tmp_path):
    from helpers import write_vgg_npz

    from ocg_jax.analysis.inversion import image_loss, loss_features

    write_vgg_npz(tmp_path / "vgg16.npz")
    features, what = loss_features(gan_run[1], tmp_path / "vgg16.npz")
    assert what == f"VGG-16 features.20 ({tmp_path / 'vgg16.npz'})"
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
    assert features(x).shape == (2, 4 * 4 * 512)
    assert float(image_loss(features, x[0], x[0])) == 0.0 < float(image_loss(features, x[0], x[1]))


def test_hybrid_encoder_inverts_each_stage_then_the_image(gan_run):
    """The paper's starting encoder: per-stage inverses composed over a conv bottom."""
    from scipy.spatial.distance import cosine

    from ocg_jax.analysis.inversion import Decoder
    from ocg_jax.analysis.layer_inverse import HybridEncoder, cse

    run = gan_run[1]
    enc = HybridEncoder(run.model, Decoder(run.model), run.variables, ["Dense_0", "BatchNorm_0"])
    assert enc.shapes == [(16,), (4 * 4 * 32,), (4, 4, 32)]  # z, then each stage's output
    z, outs, images = enc._sample(jax.random.PRNGKey(3))
    for i, s_prev in enumerate([z, outs[0]], start=1):  # G_i: stage i from stage i - 1's output
        np.testing.assert_allclose(enc._stage(i, s_prev), outs[i - 1], rtol=1e-5, atol=1e-5)
    a, b = np.asarray(outs[1]).reshape(len(z), -1), np.asarray(outs[1]).reshape(len(z), -1)[::-1]
    expected = np.mean([cosine(x, y) for x, y in zip(a, b, strict=True)])
    np.testing.assert_allclose(cse(a, b), expected, rtol=1e-5)
    losses = enc.train(100)
    assert losses["invert Dense_0"] < 0.1 and losses["invert BatchNorm_0"] < 0.1, losses
    assert losses["z_mse"] < 0.5, losses  # E[z^2] = 1: a code of zeros scores 1
    assert enc(images).shape == z.shape


@pytest.mark.optimised
def test_genesis_decoders_invert_from_the_posterior(tiny_run, tmp_path):
    from ocg_jax.analysis.inversion import run_inversion
    from ocg_jax.analysis.runs import load_run

    run = load_run(tiny_run[0])  # the engine tests' GENESIS, on multi-dSprites tiny_32px
    methods = ("encoder", "layerwise")  # z is left out: its own compile; the GAN test has it
    kwargs = {"segmenter_steps": 150, "feature_net_steps": 20, "out_dir": tmp_path}
    report = run_inversion(run, 1, 30, methods=methods, **kwargs)
    assert report["encoder"] == "the posterior mean" and tuple(report["methods"]) == methods
    stages = report["stages_with_deltas"]
    assert stages[0] == "mask_decoder/Dense_0" and stages[-1].startswith("comp_decoder/")
    err = {m: r["pixel_mse"] for m, r in report["methods"].items()}
    assert err["layerwise"] < err["encoder"], err
    with pytest.raises(ValueError, match="inversion methods must be some of"):
        run_inversion(run, num_images=1, steps=1, methods=("pixels",), out_dir=tmp_path)
    with pytest.raises(ValueError, match="layers must be in 1.."):
        run_inversion(run, num_images=1, steps=1, layers=99, out_dir=tmp_path)


def test_z_search_tool_compares_the_two_lbfgs_forms(gan_run):
    cmd = ["-m", "experiments.tools.z_search", f"--workdir={gan_run[0]}"]
    args = ["--num_images=2", "--steps=3", "--draws=1"]
    res = subprocess.run([sys.executable, *cmd, *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    row = json.loads(res.stdout.strip().splitlines()[-1])
    assert row["num_images"] == 2 and row["steps"] == 3
    for key in ("per_image_loss", "joint_loss", "per_image_s", "joint_s", "layerwise_step_s"):
        assert np.isfinite(row[key]) and row[key] > 0, row
