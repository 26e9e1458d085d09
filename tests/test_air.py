"""AIR: multi-digit data, the spatial transformer, the model's contract, counting metrics,
and a short run through the launchers' path (train, evaluate with defaults, pictures)."""

import gzip
import json
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from ocg_jax.data.digits import mnist_digits, sklearn_digits
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics.counting import box_iou, count_confusion, matched_box_iou
from ocg_jax.models.air import SCALE_FLOOR, AIRStep, StepSettings, annealed_prior, count_prior
from ocg_jax.models.registry import get_model
from ocg_jax.nn.transformer import box_where, read_glimpse, window_box, write_window

SMALL = {"name": "air", "lstm": 32, "hidden": 32, "z_what": 8}


# -- data -----------------------------------------------------------------------------
def test_multi_digits_examples(data_dir):
    train = load_examples(load_source("multi_digits", "tiny", "train", data_dir), 64)
    assert train["image"].shape == (64, 50, 50, 1) and train["image"].dtype == np.uint8
    assert set(np.unique(train["num_objects"])) == {0, 1, 2}
    for ex_mask, n, digits, boxes in zip(
        train["mask"], train["num_objects"], train["digit"], train["box"], strict=True
    ):
        assert (digits >= 0).sum() == n and set(np.unique(ex_mask)) <= set(range(n + 1))
        for k in range(n):  # each digit's pixels lie inside its box
            ys, xs = np.nonzero(ex_mask == k + 1)
            y0, x0, y1, x1 = boxes[k]
            assert ys.min(initial=y0) >= y0 and ys.max(initial=y0) < y1
            assert xs.min(initial=x0) >= x0 and xs.max(initial=x0) < x1
    three = load_examples(load_source("multi_digits", "tiny", "test_3", data_dir), 16)
    assert (three["num_objects"] == 3).all() and (three["digit"] >= 0).all()


def test_train_and_test_digits_are_disjoint():
    d = sklearn_digits()
    train = {im.tobytes() for im in d["train"].images}
    assert not train & {im.tobytes() for im in d["test"].images}
    assert len(d["train"]) + len(d["test"]) == 1797 and d["train"].images.shape[1:] == (20, 20)


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_from_the_users_files(tmp_path, data_dir):
    rng = np.random.default_rng(0)
    x = {
        s: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        for s, n in (("train", 30), ("test", 12))
    }
    y = {s: rng.integers(0, 10, len(v)).astype(np.uint8) for s, v in x.items()}
    npz, idx = tmp_path / "npz", tmp_path / "idx"
    npz.mkdir(), idx.mkdir()
    np.savez(npz / "mnist.npz", **{f"{k}_{s}": d[s] for k, d in (("x", x), ("y", y)) for s in x})
    names = {"train": ("train", "train"), "test": ("t10k", "t10k")}
    for s, (a, b) in names.items():
        _write_idx(idx / f"{a}-images-idx3-ubyte.gz", x[s])
        _write_idx(idx / f"{b}-labels-idx1-ubyte.gz", y[s])
    from_npz, from_idx = mnist_digits(npz), mnist_digits(idx)
    for s in ("train", "test"):
        np.testing.assert_array_equal(from_npz[s].images, from_idx[s].images)
        np.testing.assert_array_equal(from_idx[s].labels, y[s])
    with pytest.raises(FileNotFoundError, match="manual_dir"):
        mnist_digits(None)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        (idx / "t10k-images-idx3-ubyte.gz").unlink()
        mnist_digits(idx)
    src = load_source(
        "multi_digits", "tiny_mnist", "train", str(tmp_path / "tfds"), manual_dir=str(npz)
    )
    ex = load_examples(src, 8)
    assert ex["image"].shape == (8, 50, 50, 1) and (ex["digit"] < 10).all()
    sizes = ex["box"][..., 2] - ex["box"][..., 0]  # 28 px shrunk by s ~ N(1.3, 0.1^2)
    assert ((sizes[ex["digit"] >= 0] > 17) & (sizes[ex["digit"] >= 0] < 27)).all()


# -- spatial transformer ----------------------------------------------------------------
def test_window_written_where_its_box_says_and_read_back():
    window = jax.random.uniform(jax.random.PRNGKey(0), (2, 20, 20))
    boxes = jnp.array([[10.0, 25.0, 30.0, 45.0], [0.0, 0.0, 20.0, 20.0]])
    where = box_where(boxes, 50)
    np.testing.assert_allclose(window_box(where, 50), boxes, atol=1e-4)
    canvas = write_window(window, where, 50)
    ref = np.zeros((2, 50, 50))
    ref[0, 10:30, 25:45], ref[1, :20, :20] = window[0], window[1]
    np.testing.assert_allclose(canvas, ref, atol=1e-4)  # aligned: exact placement, zeros outside
    np.testing.assert_allclose(read_glimpse(canvas, where, 20), window, atol=1e-4)


def test_separable_sampling_equals_map_coordinates():
    """Reading and writing are bilinear with zeros outside: the same values as
    ``jax.scipy.ndimage.map_coordinates`` on the grid the convention defines."""
    from jax.scipy.ndimage import map_coordinates

    k = jax.random.split(jax.random.PRNGKey(3), 3)
    window, image = jax.random.uniform(k[0], (8, 20, 20)), jax.random.uniform(k[1], (8, 50, 50))
    where = jnp.array([[3.0, 0.0, 0.0]]) + jax.random.normal(k[2], (8, 3)) * jnp.array(
        [[1.0, 1.5, 1.5]]
    )
    centres = lambda n: (2 * np.arange(n) + 1) / n - 1

    def oracle(src, rows, cols):
        n, m = src.shape
        r, c = np.meshgrid(((rows + 1) * n - 1) / 2, ((cols + 1) * m - 1) / 2, indexing="ij")
        return map_coordinates(src, [r, c], order=1, mode="constant", cval=0.0)

    for b in range(8):
        s, x, y = np.asarray(where[b], np.float64)
        u, v = centres(50), centres(20)
        np.testing.assert_allclose(
            write_window(window, where, 50)[b], oracle(window[b], s * u + y, s * u + x), atol=1e-5
        )
        np.testing.assert_allclose(
            read_glimpse(image, where, 20)[b], oracle(image[b], (v - y) / s, (v - x) / s), atol=1e-5
        )


def test_zero_scale_stays_finite():
    where = jnp.array([[0.0, 0.3, -0.2]])
    grad = jax.grad(lambda w: read_glimpse(jnp.ones((1, 50, 50)), w, 20).sum())(where)
    assert (
        np.isfinite(np.asarray(grad)).all() and np.isfinite(np.asarray(window_box(where, 50))).all()
    )


# -- model ------------------------------------------------------------------------------
def test_count_prior_is_truncated_geometric():
    k, steps = 0.3, 3
    rho = count_prior(steps, k)
    p = [np.prod(rho[:n]) * (1 - rho[n] if n < steps else 1) for n in range(steps + 1)]
    np.testing.assert_allclose(
        p, np.array([k**n for n in range(steps + 1)]) / sum(k**n for n in range(4))
    )


def test_annealed_prior_reaches_the_geometric_one():
    final = np.asarray(count_prior(3, 0.01))
    np.testing.assert_allclose(annealed_prior(3, 0.01, 0.999, 100, 0), [0.999] * 3, rtol=1e-6)
    np.testing.assert_allclose(annealed_prior(3, 0.01, 0.999, 100, 100), final, rtol=1e-5)
    np.testing.assert_allclose(annealed_prior(3, 0.01, 0.999, 100, 10**6), final, rtol=1e-5)
    mid = np.asarray(annealed_prior(3, 0.01, 0.999, 100, 50))
    np.testing.assert_allclose(mid, np.sqrt(0.999 * final), rtol=1e-5)  # geometric midpoint
    np.testing.assert_allclose(annealed_prior(3, 0.01, 0.0, 100, 0), final, rtol=1e-6)


@pytest.fixture(scope="module")
def small_air():
    model = get_model(SMALL)
    images = jax.random.uniform(jax.random.PRNGKey(1), (6, 50, 50, 1))
    variables = model.init(jax.random.PRNGKey(0), images)
    return model, variables, images


def test_steps_after_an_absent_one_are_absent(small_air):
    model, variables, images = small_air
    assert set(variables["params"]) == {"model", "baseline"}
    _, state = model.apply(variables, images, jax.random.PRNGKey(0), train=True)
    assert int(state["schedule"]["step"]) == 1  # the count prior's schedule advances in training
    apply = jax.jit(lambda v, x, r: model.apply(v, x, r, train=True)[0])
    for seed in range(4):
        out = apply(variables, images, jax.random.PRNGKey(seed))
        pres = np.asarray(out.z_pres)
        assert (np.diff(pres, axis=1) <= 0).all() and (out.count == pres.sum(1)).all()
        st = out.score_terms
        np.testing.assert_array_equal(st.mask[:, 0], 1)
        np.testing.assert_array_equal(st.mask[:, 1:], pres[:, :-1])
        # step t's signal: the reconstruction and the KL of steps t.. (what z_pres_t affects)
        kl = sum(np.asarray(out.losses[k]) for k in model.kl_terms)
        np.testing.assert_allclose(st.signal[:, 0], out.losses["nll"] + kl, rtol=1e-5)
    a, _ = model.apply(variables, images, jax.random.PRNGKey(0), train=False)
    b, _ = model.apply(variables, images, jax.random.PRNGKey(1), train=False)
    np.testing.assert_array_equal(a.recon, b.recon)  # evaluation uses the modes


def test_prior_samples(small_air):
    model, variables, _ = small_air
    s = model.sample(variables, jax.random.PRNGKey(0), 512)
    assert s.recon.shape == (512, 50, 50, 1)
    freq = np.bincount(np.asarray(s.count), minlength=4) / 512  # p(n) ∝ 0.01^n
    assert freq[0] > 0.97


def test_bad_input_and_settings(small_air):
    model, variables, images = small_air
    with pytest.raises(ValueError, match=r"shape \[B, 50, 50, 1\]"):
        model.apply(variables, jnp.repeat(images, 3, -1), jax.random.PRNGKey(0), train=False)
    with pytest.raises(ValueError, match=r"shape \[B, 50, 50, 1\]"):
        model.apply(variables, images[:, :40, :40], jax.random.PRNGKey(0), train=False)
    with pytest.raises(ValueError, match="scale mean must be positive"):
        get_model({**SMALL, "where_prior_loc": (0.0, 0.0, 0.0)})
    with pytest.raises(ValueError, match="3 objects but the model infers at most 2"):
        get_model({**SMALL, "steps": 2}).check_data({"num_objects": np.array([0, 3, 1])})
    with pytest.raises(ValueError, match="anneal_from"):
        get_model({**SMALL, "anneal_from": 1.0})
    with pytest.raises(ValueError, match="unknown option"):
        get_model({**SMALL, "num_slots": 3})


def _zeroed(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def test_where_posterior_is_relative_to_the_prior_as_pyros(small_air):
    """With the predictor's outputs at 0, q(z_where) = N(prior loc, softplus(0) * prior
    scale): windows of the prior's size, scale 0.69 * 0.2 = 0.14 (Pyro's)."""
    model, variables, images = small_air
    params = variables["params"]["model"]
    params = {**params, "step": {**params["step"], "predict": _zeroed(params["step"]["predict"])}}
    pred = jnp.zeros((2, 6))
    for relative, want in ((True, 0.2), (False, 1.0)):
        net = model.net.clone(where_scale_relative=relative)

        loc, scale = AIRStep(StepSettings.of(net), True).where_posterior(pred)
        np.testing.assert_allclose(loc, [[3.0, 0.0, 0.0]] * 2)
        np.testing.assert_allclose(scale[:, 0], (np.log(2) + SCALE_FLOOR) * want, rtol=1e-5)
    v = {**variables, "params": {**variables["params"], "model": params}}
    out, _ = model.apply(v, images, jax.random.PRNGKey(0), train=False)
    np.testing.assert_allclose(out.z_where[:, 0], [[3.0, 0.0, 0.0]] * len(images), atol=1e-6)


def test_learned_starts_and_baseline_options_get_gradients(small_air):
    model, variables, images = small_air
    params = variables["params"]
    assert {"h_init", "c_init", "z_where_init", "z_what_init"} <= set(params["model"])
    assert {"h_init", "c_init"} <= set(params["baseline"])
    assert set(params["baseline"]["readout"]) == {"Dense_0", "Dense_1"}  # an MLP, as Pyro's

    def loss(p):
        out, _ = model.apply({**variables, "params": p}, images, jax.random.PRNGKey(3), train=True)
        st = out.score_terms
        return jnp.mean(out.losses["nll"]) + jnp.mean(st.mask * (st.signal - st.baseline) ** 2)

    grads = jax.grad(loss)(params)
    for group, name in (("model", "z_where_init"), ("model", "h_init"), ("baseline", "h_init")):
        assert float(jnp.abs(grads[group][name]).sum()) > 0, (group, name)
    linear = get_model({**SMALL, "baseline_hidden": 0, "baseline_scalar": 100.0})
    v = linear.init(jax.random.PRNGKey(0), images)
    assert set(v["params"]["baseline"]["readout"]) == {"Dense_0"}  # linear
    out, _ = linear.apply(v, images, jax.random.PRNGKey(0), train=True)
    unscaled = get_model({**SMALL, "baseline_hidden": 0})
    ref, _ = unscaled.apply(v, images, jax.random.PRNGKey(0), train=True)
    np.testing.assert_allclose(out.score_terms.baseline, 100 * ref.score_terms.baseline, rtol=1e-5)


def test_decoder_output_bias_and_sigmoid(small_air):
    """A zeroed decoder draws ``sigmoid(-2)`` windows with Pyro's bias -2 and sigmoid; raw
    outputs (0) without the sigmoid and the bias."""
    model, variables, _ = small_air
    params = variables["params"]["model"]
    zeroed = {**params, "step": {**params["step"], "decoder": _zeroed(params["step"]["decoder"])}}
    v = {**variables, "params": {**variables["params"], "model": zeroed}}
    s = model.sample(v, jax.random.PRNGKey(0), 4)
    np.testing.assert_allclose(s.windows, 1 / (1 + np.exp(2.0)), rtol=1e-6)
    raw = get_model({**SMALL, "decoder_sigmoid": False, "decoder_output_bias": None})
    np.testing.assert_allclose(raw.sample(v, jax.random.PRNGKey(0), 4).windows, 0.0)


def test_pyro_variant_is_the_tutorials_command():
    """``main.py -n 200000 -blr 0.1 --z-pres-prior 0.01 --scale-prior-sd 0.2 --predict-net 200
    --bl-predict-net 200 --decoder-output-use-sigmoid --decoder-output-bias -2`` (the rest
    Pyro's defaults: lr 1e-4, batch 64, LSTM 256, z_what 50, likelihood sd 0.3)."""
    from experiments.configs.air_multi_digits import get_config

    c = get_config("pyro")
    m = c.model
    assert (c.num_steps, c.batch_size, c.optim.learning_rate) == (200_000, 64, 1e-4)
    assert c.optim_groups.baseline.learning_rate == 0.1 and not c.reinforce.normalise
    assert (m.count_prior_k, m.anneal_from, m.where_prior_scale[0]) == (0.01, 0.0, 0.2)
    assert (m.hidden, m.baseline_hidden, m.baseline_scalar) == (200, 200, None)
    assert (m.decoder_sigmoid, m.decoder_output_bias, m.pres_bias) == (True, -2.0, 0.0)
    assert m.where_offset and m.where_scale_relative and m.learned_init
    assert (m.lstm, m.z_what, m.sigma, m.where_prior_loc) == (256, 50, 0.3, (3.0, 0.0, 0.0))
    cpu = get_config("pyro,cpu")
    assert (cpu.num_steps, cpu.optim.learning_rate) == (5_000, 3e-4)
    every = get_config("cpu,departures")
    assert not every.model.where_scale_relative and every.model.pres_bias == -4.0
    assert every.reinforce.normalise and every.model.baseline_hidden == 0
    assert every.optim_groups.baseline.learning_rate == pytest.approx(3e-3)  # 10x the model's
    assert get_config("cpu").to_dict() == every.to_dict()  # default: Pyro's + the departures
    one = get_config("cpu,pyro,nvil")  # one departure on Pyro's setting, for the ablation
    assert one.reinforce.normalise and one.model.to_dict() == cpu.model.to_dict()
    annealed = get_config("cpu,annealed").model
    assert (annealed.anneal_from, annealed.count_prior_k, annealed.anneal_steps) == (
        0.99,
        1e-5,
        2_500,
    )


# -- counting metrics --------------------------------------------------------------------
def test_count_confusion_matches_sklearn():
    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    np.testing.assert_array_equal(
        count_confusion(true, pred, 3), confusion_matrix(true, pred, labels=range(4))
    )
    assert count_confusion([1], [7], 3)[1, 3] == 1  # over-counts land in the last column


def test_box_iou_and_matching():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 25 / 175, 0.0]])
    pred = np.array([[[5, 5, 15, 15], [0, 0, 10, 10], [0, 0, 1, 1]]], float)
    true = np.array([[[0, 0, 10, 10], [5, 5, 15, 15], [0, 0, 0, 0]]], float)
    ious = matched_box_iou(pred, np.array([[1, 1, 0]]), true, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(np.sort(ious), [1.0, 1.0])  # order of the steps does not matter
    assert len(matched_box_iou(pred, np.array([[1, 0, 0]]), true, np.array([[1, 1, 0]]))) == 1


# -- a short run, as a user would -------------------------------------------------------
def test_quick_run_logs_counts_and_evaluates_with_defaults(tmp_path, data_dir):
    from experiments.configs.air_multi_digits import get_config
    from ocg_jax.analysis.evaluation import evaluate_run
    from ocg_jax.analysis.pictures import make_pictures
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    config = get_config("quick,dair")
    config.data.data_dir = data_dir
    config.model.update(lstm=32, hidden=32, z_what=8)
    config.num_steps, config.eval_every, config.log_every = 4, 4, 2
    train_and_evaluate(config, tmp_path / "run", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("count_acc" in r and "elbo" in r for r in rows)
    assert any("val_count_acc" in r for r in rows)
    run = load_run(tmp_path / "run")
    assert run.model.net.difference  # the DAIR switch
    result = evaluate_run(run, progress=False)  # defaults: sizes clipped, no FD (no labels)
    assert any("Fréchet" in n for n in result["notes"]), result["notes"]
    counting = result["counting"]
    assert set(counting) == {"test", "test_3"} and counting["test"]["num_images"] == 16
    assert np.sum(counting["test_3"]["count_confusion"][3]) == 16
    assert 0.0 <= counting["test"]["count_accuracy"] <= 1.0
    assert 0.0 <= counting["test"]["count_accuracy_sampled"] <= 1.0
    assert counting["test_3"]["count_accuracy_majority"] == 1.0  # every canvas holds 3
    pics = make_pictures(run, num=4)
    assert set(pics) == {"reconstructions", "samples"} and pics["reconstructions"].ndim == 3


def test_compare_reads_counting_columns():
    from ocg_jax.analysis.compare import flat_metrics

    result = {
        "metrics": {"elbo": 1.0},
        "counting": {
            "test": {"count_accuracy": 0.9, "box_iou": 0.7},
            "test_3": {"count_accuracy": 0.1, "box_iou": 0.6},
        },
    }
    row = flat_metrics(result)
    assert (
        row["count_acc_test"] == 0.9
        and row["count_acc_test_3"] == 0.1
        and row["box_iou_test"] == 0.7
    )
