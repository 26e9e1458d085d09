"""The fixed segmenter of segment statistics, trained once per dataset config and cached.

Bau et al. segment with a network trained on real labels; here the builders'
ground-truth class maps (``ocg_jax.data.labels.class_maps``) train a small U-Net
(``ocg_jax.models.segmenter``) with the ``supervised`` recipe, so every model on
that data is segmented by the same net.  Its test pixel accuracy and mean IoU are
stored with it: the statistics mean little if they are low.

Training batches are augmented (``augment_scenes``): random flips and quarter turns
where they keep the classes, and a tenth of the scenes emptied to their background,
because generators draw empty scenes and the builders never do.
"""

import functools
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from ocg_jax.analysis.feature_net import cache_files, train_supervised
from ocg_jax.data.labels import DIHEDRAL_CLASSES, SEGMENT_CLASSES, class_maps
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.models.segmenter import Segmenter, segmenter

VERSION = 2  # bump when the architecture or training recipe changes (invalidates caches)
EMPTY_SHARE = 0.1  # of each training batch, replaced by empty scenes
STEPS = 8000  # default training steps (at 3,000, squares were still read as hearts)


def default_steps(num_train: int, batch_size: int = 32) -> int:
    """``STEPS`` on the full and small sets; on fewer images (a ``:quick`` run's tiny data)
    64 passes over them, at least 300 steps."""
    return min(STEPS, max(300, 64 * num_train // batch_size))


class SceneSegmenter:
    """A trained segmenter: ``seg(images [N, H, W, C] in [0, 1]) -> class maps [N, H, W]``."""

    def __init__(
        self, model: Segmenter, params, name: str, classes, test_scores: dict, train_images: int
    ):
        self.model, self.params, self.name = model, params, name
        self.classes = tuple(classes)  # class names, background first
        self.test_scores = test_scores  # {"pixel_accuracy", "mean_iou", "iou": {class: iou}}
        self.train_images = train_images  # it trained on the first this many training images
        logits = lambda p, x: model.net.apply({"params": p}, x)
        self._apply = jax.jit(lambda p, x: jax.numpy.argmax(logits(p, x), -1).astype("int32"))

    def __call__(self, images, batch_size: int = 128) -> np.ndarray:
        images = np.asarray(images, np.float32)
        self.model.input_spec.check(images)
        out = [
            np.asarray(self._apply(self.params, images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(out)


def augment_scenes(rng: np.random.Generator, batch: dict, dihedral: bool, empty_share: float):
    """``batch {"image": [B, H, W, C], "class_map": [B, H, W]}`` with each scene turned by a
    random quarter turn and flipped at random (if ``dihedral`` and ``H == W``), then a
    share ``empty_share`` of the scenes replaced by their background colour everywhere
    (class 0).  The background colour is the scene's first background pixel, so this
    assumes flat backgrounds, as multi-dSprites and Tetrominoes have."""
    images, maps = np.array(batch["image"]), np.array(batch["class_map"])
    b, h, w = maps.shape
    if dihedral and h == w:
        for i in range(b):
            k, flip = rng.integers(4), rng.integers(2)
            images[i], maps[i] = np.rot90(images[i], k), np.rot90(maps[i], k)
            if flip:
                images[i], maps[i] = images[i, :, ::-1], maps[i, :, ::-1]
    background = (maps == 0).reshape(b, -1)
    empty = (rng.random(b) < empty_share) & background.any(1)
    first = np.argmax(background, axis=1)
    colour = images.reshape(b, h * w, -1)[np.arange(b), first]  # [B, C]
    images[empty] = colour[empty, None, None]
    maps[empty] = 0
    return {**batch, "image": images, "class_map": maps}


def segmentation_scores(pred, truth, classes) -> dict:
    """Pixel accuracy, per-class IoU over the whole set (from one confusion matrix) and
    their mean over the classes present in ``truth`` or ``pred``."""
    c = len(classes)
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    confusion = np.bincount(truth * c + pred, minlength=c * c).reshape(c, c)
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - inter
    iou = {classes[k]: float(inter[k] / union[k]) for k in range(c) if union[k] > 0}
    return {
        "pixel_accuracy": float(inter.sum() / confusion.sum()),
        "mean_iou": float(np.mean(list(iou.values()))),
        "iou": iou,
    }


def scene_segmenter(
    dataset: str,
    config: str,
    data_dir: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    steps: int | None = None,
    batch_size: int = 32,
    max_train_images: int = 20_000,
    seed: int = 0,
    progress: bool = False,
) -> SceneSegmenter:
    """The segmenter for ``dataset/config``: loaded from the cache, else trained and cached
    (``<data_dir or ~/tensorflow_datasets>/ocg_jax_feature_nets/segmenter_...``) after
    ``steps`` training steps (default: ``default_steps`` of the train split)."""
    if dataset not in SEGMENT_CLASSES:
        raise ValueError(
            f"no per-pixel classes for {dataset!r}, so no segmenter; known: "
            f"{sorted(SEGMENT_CLASSES)}"
        )
    classes = SEGMENT_CLASSES[dataset]
    train = load_source(dataset, config, "train", data_dir)
    steps = default_steps(min(len(train), max_train_images), batch_size) if steps is None else steps
    stem = f"segmenter_{dataset}_{config}_v{VERSION}_s{steps}"
    weights, info = cache_files(stem, data_dir, cache_dir)
    name = f"segmenter:{dataset}/{config}:v{VERSION}:{steps}steps"
    ex = load_examples(train, 1, ["image"])
    model = segmenter(ex["image"].shape[1], len(classes), ex["image"].shape[-1])
    if weights.exists() and info.exists():
        x = model.input_spec.preprocess(ex["image"])
        template = model.init(jax.random.PRNGKey(0), x)["params"]
        params = serialization.from_bytes(template, weights.read_bytes())
        saved = json.loads(info.read_text())
        return SceneSegmenter(model, params, name, classes, saved["test"], saved["train_images"])

    if progress:
        print(f"training the segmenter ({steps} steps); it is cached in {weights.parent}")
    n = min(len(train), max_train_images)
    ex = load_examples(train, n, ["image", "mask", "shape"])
    labels = {"class_map": class_maps(dataset, ex)}
    augment = functools.partial(
        augment_scenes, dihedral=dataset in DIHEDRAL_CLASSES, empty_share=EMPTY_SHARE
    )
    params = train_supervised(
        model, ex["image"], labels, steps, batch_size, seed, progress, "segmenter", augment
    )
    seg = SceneSegmenter(model, params, name, classes, {}, n)
    test = load_source(dataset, config, "test", data_dir)
    tex = load_examples(test, min(len(test), 2000), ["image", "mask", "shape"])
    pred = seg(model.input_spec.to_unit(model.input_spec.preprocess(tex["image"])))
    seg.test_scores = segmentation_scores(pred, class_maps(dataset, tex), classes)
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(serialization.to_bytes(params))
    info.write_text(
        json.dumps({"name": name, "train_images": n, "test": seg.test_scores}, indent=2)
    )
    return seg
