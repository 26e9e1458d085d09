"""An offline feature network for Fréchet distances, trained on a dataset's own labels.

The standard FID network (Inception-v3, ``ocg_jax.analysis.inception``) needs weights
from outside.  This small conv net needs nothing: it is trained once per
dataset config to predict the scene labels the builder knows
(``ocg_jax.data.labels``) and cached, so every model evaluated on that data is
measured with the same features.  Features are its 128-d penultimate layer.
"""

import json
from pathlib import Path

import jax
import ml_collections
import numpy as np
from flax import serialization

from ocg_jax.data.labels import LABEL_CLASSES, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.models.scene_net import SceneNetFamily, scene_net
from ocg_jax.platform.progress import tqdm
from ocg_jax.train.recipes import build, compile_train_step
from ocg_jax.train.sharding import make_mesh, shard_batch
from ocg_jax.train.state import create_train_state

VERSION = 1  # bump when the architecture or training recipe changes (invalidates caches)


class SceneFeatures:
    """A trained scene net as a feature extractor: ``extractor(images) -> [N, 128]``."""

    def __init__(self, model: SceneNetFamily, params, name: str, test_accuracy: dict[str, float]):
        self.model, self.params, self.name = model, params, name
        self.test_accuracy = test_accuracy
        self._apply = jax.jit(lambda p, x: model.net.apply({"params": p}, x).features)

    def __call__(self, images, batch_size: int = 256) -> np.ndarray:
        """``images [N, H, W, 3]`` float in [0, 1] -> features ``[N, 128]`` (numpy)."""
        images = np.asarray(images, np.float32)
        out = [
            self._apply(self.params, images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate([np.asarray(o) for o in out])


def train_supervised(
    model, images, labels, steps, batch_size, seed, progress, what="feature net", augment=None
):
    """Params after ``steps`` of the ``supervised`` recipe on random batches of in-memory
    ``images [N, ...]`` and ``labels {target: [N, ...]}`` (Adam 1e-3); ``augment(rng,
    batch) -> batch``, if given, changes each numpy batch on the host before it is sharded."""
    mesh = make_mesh()
    config = ml_collections.ConfigDict({"optim": {"name": "adam", "learning_rate": 1e-3}})
    recipe = build(model, config)
    state = create_train_state(recipe, jax.random.PRNGKey(seed), mesh)
    step = compile_train_step(recipe, mesh)
    rng = np.random.default_rng(seed)
    batch_size -= batch_size % mesh.size
    for _ in tqdm(range(steps), desc=f"training the {what}", disable=not progress, leave=False):
        idx = rng.integers(0, len(images), batch_size)
        batch = {"image": images[idx], **{k: v[idx] for k, v in labels.items()}}
        if augment is not None:
            batch = augment(rng, batch)
        state, _ = step(state, shard_batch(batch, mesh))
    return jax.device_get(state.params)


def cache_files(stem: str, data_dir, cache_dir) -> tuple[Path, Path]:
    """``(weights .msgpack, info .json)`` of a cached net named ``stem`` in ``cache_dir``
    (default ``<data_dir or ~/tensorflow_datasets>/ocg_jax_feature_nets``)."""
    root = Path(data_dir).expanduser() if data_dir else Path("~/tensorflow_datasets").expanduser()
    cache = Path(cache_dir) if cache_dir else root / "ocg_jax_feature_nets"
    return cache / f"{stem}.msgpack", cache / f"{stem}.json"


def _accuracy(model, params, images, labels) -> dict[str, float]:
    x = model.input_spec.preprocess(images)
    logits = jax.jit(model.net.apply)({"params": params}, x).logits
    return {k: float(np.mean(np.argmax(logits[k], -1) == labels[k])) for k in labels}


def default_steps(num_train: int) -> int:
    """3,000 steps of 64 (the full sets), fewer for small sets: 20 epochs, at least 300."""
    return min(3000, max(300, 20 * num_train // 64))


def scene_features(
    dataset: str,
    config: str,
    data_dir: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    max_train_images: int = 20_000,
    seed: int = 0,
    progress: bool = False,
) -> SceneFeatures:
    """The feature net for ``dataset/config``: loaded from the cache, else trained and cached.

    Cache: ``cache_dir`` (default ``<data_dir or ~/tensorflow_datasets>/ocg_jax_feature_nets``)
    holds ``<dataset>_<config>_v<VERSION>_s<steps>.msgpack`` and a ``.json`` with its test
    accuracy.  With ``progress``, training shows a bar and says where the net is cached.
    ``steps`` None: ``default_steps`` of the train split.
    """
    if dataset not in LABEL_CLASSES:
        raise ValueError(
            f"no scene labels for {dataset!r}, so no offline feature net; known: "
            f"{sorted(LABEL_CLASSES)} (use the Inception extractor with a weight file instead)"
        )
    train = load_source(dataset, config, "train", data_dir)
    steps = default_steps(len(train)) if steps is None else steps
    weights, info = cache_files(f"{dataset}_{config}_v{VERSION}_s{steps}", data_dir, cache_dir)
    name = f"scene_net:{dataset}/{config}:v{VERSION}:{steps}steps"
    n = min(len(train), max_train_images)
    ex = load_examples(train, 1, ["image"])
    model = scene_net(ex["image"].shape[1], LABEL_CLASSES[dataset], ex["image"].shape[-1])
    if weights.exists() and info.exists():
        x = model.input_spec.preprocess(ex["image"])
        template = model.init(jax.random.PRNGKey(0), x)["params"]
        params = serialization.from_bytes(template, weights.read_bytes())
        return SceneFeatures(model, params, name, json.loads(info.read_text())["test_accuracy"])

    if progress:
        print(f"training the offline feature net ({steps} steps); it is cached in {weights.parent}")
    ex = load_examples(train, n)
    params = train_supervised(
        model, ex["image"], scene_labels(dataset, ex), steps, batch_size, seed, progress
    )
    test = load_source(dataset, config, "test", data_dir)
    tex = load_examples(test, min(len(test), 2000))
    acc = _accuracy(model, params, tex["image"], scene_labels(dataset, tex))
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(serialization.to_bytes(params))
    info.write_text(json.dumps({"name": name, "train_images": n, "test_accuracy": acc}, indent=2))
    return SceneFeatures(model, params, name, acc)
