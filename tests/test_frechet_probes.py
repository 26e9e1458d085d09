"""Fréchet distance (scipy oracle), Inception loader, scene labels, probes."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from ocg_jax.analysis.inception import InceptionFeatures, InceptionV3, load_inception_weights
from ocg_jax.analysis.probes import probe_accuracy, run_probes
from ocg_jax.data.labels import LABEL_CLASSES, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics import frechet_distance, frechet_distance_from_stats


def _direct_fd(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular products: scipy warns, and still answers
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s1 @ s2).real
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)


def test_frechet_distance_matches_direct_scipy_computation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    b = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 1.0
    assert frechet_distance(a, b) == pytest.approx(_direct_fd(a, b), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # equal covariances: only the mean shift counts
    assert frechet_distance(a, a + 2.0) == pytest.approx(4.0 * 8, rel=1e-6)


def test_frechet_distance_regularises_only_a_root_that_is_not_finite():
    """Class areas sum to 100, so their covariance is singular; scipy's root of it is
    finite, and the reference (TTUR, ganseeing) then adds no 1e-6 I: neither do we."""
    rng = np.random.default_rng(1)
    a = rng.dirichlet(np.ones(4), 50) * 100
    b = rng.dirichlet(np.full(4, 2.0), 40) * 100
    assert frechet_distance(a, b) == pytest.approx(_direct_fd(a, b), rel=1e-9)
    # a root with a large imaginary part (a covariance that is not one) is refused
    with pytest.raises(ValueError, match="imaginary part"):
        frechet_distance_from_stats(np.zeros(2), np.diag([-1.0, 1.0]), np.zeros(2), np.eye(2))


def test_frechet_distance_rejects_bad_features():
    with pytest.raises(ValueError, match="feature dims differ"):
        frechet_distance(np.zeros((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 3), np.nan), np.ones((5, 3)))


def _to_torch_layout(variables) -> dict[str, np.ndarray]:
    """The inverse of the loader's mapping, as pytorch-fid's state dict names it."""
    out = {}
    inverse = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
    for collection in ("params", "batch_stats"):
        for path, leaf in jax.tree_util.tree_flatten_with_path(variables[collection])[0]:
            keys = [p.key for p in path]
            leaf = np.asarray(leaf)
            if keys[-1] == "kernel":
                out[".".join(keys[:-1] + ["weight"])] = leaf.transpose(3, 2, 0, 1)
            else:
                out[".".join(keys[:-1] + [inverse[keys[-1]]])] = leaf
    out["fc.weight"] = np.zeros((1008, 2048), np.float32)  # classifier: ignored
    out["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.zeros((), np.int64)
    return out


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    # random weights of the right shapes (running init op by op takes minutes on a CPU)
    shapes = jax.eval_shape(
        InceptionV3(resize=75).init, jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3))
    )
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: (0.05 * rng.normal(size=s.shape)).astype(np.float32), shapes)
    variables["batch_stats"] = jax.tree.map(np.abs, variables["batch_stats"])  # variances > 0
    path = tmp_path_factory.mktemp("inception") / "weights.npz"
    np.savez(path, **_to_torch_layout(variables))
    return path, variables


def test_inception_weights_load_into_the_flax_net(inception_file):
    path, variables = inception_file
    loaded = load_inception_weights(path)
    jax.tree.map(np.testing.assert_array_equal, loaded, jax.device_get(dict(variables)))
    # a 2048-d pool3 vector per image, from images of any size
    feats = InceptionFeatures(loaded, resize=75)(np.random.default_rng(0).random((3, 32, 32, 3)))
    assert feats.shape == (3, 2048) and np.all(np.isfinite(feats)) and np.all(feats >= 0)


def test_inception_loader_errors(inception_file, tmp_path):
    path, _ = inception_file
    with pytest.raises(FileNotFoundError, match="README"):
        load_inception_weights(tmp_path / "missing.pth")
    with np.load(path) as f:
        partial = {k: f[k] for k in f.files if not k.startswith("Mixed_7c")}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(ValueError, match="not an Inception-v3"):
        load_inception_weights(tmp_path / "partial.npz")
    with pytest.raises(ValueError, match=".pth or .npz"):
        load_inception_weights(path.rename(tmp_path / "weights.txt"))


def test_scene_labels_agree_with_the_masks(data_dir):
    src = load_source("multi_dsprites", "tiny_32px", "train", data_dir)
    ex = load_examples(src, 32)
    labels = scene_labels("multi_dsprites", ex)
    assert set(labels) == set(LABEL_CLASSES["multi_dsprites"])
    for i in range(32):
        n = int(ex["num_objects"][i])
        assert labels["num_objects"][i] == n - 1
        largest = int(np.argmax(np.bincount(ex["mask"][i].ravel(), minlength=5)[1:]))
        if ex["visible_pixels"][i].max() > 0:
            assert labels["largest_shape"][i] == ex["shape"][i][largest]
    with pytest.raises(ValueError, match="no scene labels"):
        scene_labels("clevr", ex)


def test_probes_find_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 10))
    y = (x[:, 0] + 0.1 * rng.normal(size=600) > 0).astype(int)
    assert probe_accuracy(x[:400], y[:400], x[400:], y[400:], "logistic") > 0.9
    noise = rng.integers(0, 2, 600)
    assert probe_accuracy(x[:400], noise[:400], x[400:], noise[400:], "logistic") < 0.65
    res = run_probes(x[:400], {"a": y[:400]}, x[400:], {"a": y[400:]})
    assert set(res["a"]) == {"logistic", "mlp", "majority"} and res["a"]["mlp"] > 0.8
    with pytest.raises(ValueError, match="labels"):
        probe_accuracy(x[:10], y[:9], x, y)
    with pytest.raises(ValueError, match="unknown probe"):
        probe_accuracy(x, y, x, y, "svm")


def test_vgg_features_read_torchvisions_layout_and_compute_its_convs(tmp_path):
    import flax.linen as nn
    from helpers import write_vgg_npz

    from ocg_jax.analysis.vgg import VGG16Features, conv_indices, load_vgg_params, vgg_features_fn

    assert conv_indices() == [0, 2, 5, 7, 10, 12, 14, 17, 19]  # torchvision's features.N
    state = write_vgg_npz(tmp_path / "vgg16.npz")  # random weights, torchvision's keys
    rng = np.random.default_rng(1)
    params = load_vgg_params(tmp_path / "vgg16.npz")
    # the first conv as torch computes it: cross-correlation, zero padding 1, OIHW weights
    x = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    pad, w = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), state["features.0.weight"]
    taps = [(i, j) for i in range(3) for j in range(3)]
    ref = sum(
        np.einsum("nhwc,oc->nhwo", pad[:, i : i + 8, j : j + 8], w[:, :, i, j]) for i, j in taps
    )
    conv = nn.Conv(64, (3, 3), padding=((1, 1), (1, 1)))
    got = conv.apply({"params": params["features_0"]}, x)
    np.testing.assert_allclose(got, ref + state["features.0.bias"], rtol=1e-4, atol=1e-4)
    # images in [-1, 1] go in as they are, as the original feeds its GAN's
    features = vgg_features_fn(tmp_path / "vgg16.npz", to_unit=lambda a: (a + 1) / 2)
    direct = VGG16Features().apply({"params": params}, x)
    assert direct.shape == (2, 1, 1, 512)
    np.testing.assert_allclose(features(x), direct.reshape(2, -1), rtol=1e-4, atol=1e-5)
    del state["features.19.weight"]
    np.savez(tmp_path / "cut.npz", **state)
    with pytest.raises(ValueError, match="no conv features.19"):
        load_vgg_params(tmp_path / "cut.npz")
    with pytest.raises(FileNotFoundError, match="vgg16-397923af.pth"):
        load_vgg_params(tmp_path / "missing.pth")
