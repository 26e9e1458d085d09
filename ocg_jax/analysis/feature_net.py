"""An offline feature network for Fréchet distances, trained on a dataset's own labels.

The standard FID network (Inception-v3, ``ocg_jax.nn.inception``) needs weights
from outside.  This small conv net needs nothing: it is trained once per
dataset config to predict the scene labels the builder knows
(``ocg_jax.data.labels``) and cached, so every model evaluated on that data is
measured with the same features.  Features are its 128-d penultimate layer.
"""

import json
from pathlib import Path

import flax.linen as nn
import jax
import numpy as np
import optax
from flax import serialization

from ocg_jax.data.labels import LABEL_CLASSES, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source

Array = jax.Array
VERSION = 1  # bump when the architecture or training recipe changes (invalidates caches)


class SceneNet(nn.Module):
    """``[N, H, W, 3]`` in [0, 1] -> ``(features [N, 128], {label: logits [N, classes]})``."""

    classes: dict[str, int]

    @nn.compact
    def __call__(self, x: Array):
        for c in (32, 64, 128, 128):
            x = nn.relu(nn.Conv(c, (3, 3), (2, 2))(x))
        x = x.reshape(x.shape[0], -1)
        feats = nn.relu(nn.Dense(128)(x))
        return feats, {k: nn.Dense(n, name=f"head_{k}")(feats) for k, n in self.classes.items()}


class SceneFeatures:
    """A trained ``SceneNet`` as a feature extractor: ``extractor(images) -> [N, 128]``."""

    def __init__(self, net: SceneNet, params, name: str, test_accuracy: dict[str, float]):
        self.net, self.params, self.name = net, params, name
        self.test_accuracy = test_accuracy
        self._apply = jax.jit(lambda p, x: net.apply({"params": p}, x)[0])

    def __call__(self, images, batch_size: int = 256) -> np.ndarray:
        """``images [N, H, W, 3]`` float in [0, 1] -> features ``[N, 128]`` (numpy)."""
        images = np.asarray(images, np.float32)
        out = [
            self._apply(self.params, images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate([np.asarray(o) for o in out])


def _train(net, images, labels, steps, batch_size, seed):
    params = net.init(jax.random.PRNGKey(seed), images[:1])["params"]
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            _, logits = net.apply({"params": p}, x)
            return sum(
                optax.softmax_cross_entropy_with_integer_labels(logits[k], y[k]).mean()
                for k in logits
            )

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(images), batch_size)
        x = images[idx].astype(np.float32) / 255.0
        params, opt_state, _ = step(params, opt_state, x, {k: v[idx] for k, v in labels.items()})
    return params


def _accuracy(net, params, images, labels) -> dict[str, float]:
    _, logits = jax.jit(net.apply)({"params": params}, images.astype(np.float32) / 255.0)
    return {k: float(np.mean(np.argmax(logits[k], -1) == labels[k])) for k in labels}


def scene_features(
    dataset: str,
    config: str,
    data_dir: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    steps: int = 3000,
    batch_size: int = 64,
    max_train_images: int = 20_000,
    seed: int = 0,
) -> SceneFeatures:
    """The feature net for ``dataset/config``: loaded from the cache, else trained and cached.

    Cache: ``cache_dir`` (default ``<data_dir or ~/tensorflow_datasets>/ocg_jax_feature_nets``)
    holds ``<dataset>_<config>_v<VERSION>.msgpack`` and a ``.json`` with its test accuracy.
    """
    if dataset not in LABEL_CLASSES:
        raise ValueError(
            f"no scene labels for {dataset!r}, so no offline feature net; known: "
            f"{sorted(LABEL_CLASSES)} (use the Inception extractor with a weight file instead)"
        )
    root = Path(data_dir).expanduser() if data_dir else Path("~/tensorflow_datasets").expanduser()
    cache = Path(cache_dir) if cache_dir else root / "ocg_jax_feature_nets"
    stem = f"{dataset}_{config}_v{VERSION}_s{steps}"
    name = f"scene_net:{dataset}/{config}:v{VERSION}:{steps}steps"
    net = SceneNet(LABEL_CLASSES[dataset])
    weights, info = cache / f"{stem}.msgpack", cache / f"{stem}.json"
    train = load_source(dataset, config, "train", data_dir)
    n = min(len(train), max_train_images)
    if weights.exists() and info.exists():
        ex = load_examples(train, 1, ["image"])
        template = net.init(jax.random.PRNGKey(0), ex["image"].astype(np.float32))["params"]
        params = serialization.from_bytes(template, weights.read_bytes())
        return SceneFeatures(net, params, name, json.loads(info.read_text())["test_accuracy"])

    ex = load_examples(train, n)
    params = _train(net, ex["image"], scene_labels(dataset, ex), steps, batch_size, seed)
    test = load_source(dataset, config, "test", data_dir)
    tex = load_examples(test, min(len(test), 2000))
    acc = _accuracy(net, params, tex["image"], scene_labels(dataset, tex))
    cache.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(serialization.to_bytes(params))
    info.write_text(json.dumps({"name": name, "train_images": n, "test_accuracy": acc}, indent=2))
    return SceneFeatures(net, params, name, acc)
