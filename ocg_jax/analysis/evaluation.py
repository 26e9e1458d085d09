"""Evaluate a trained run: ELBO terms, segmentation scores, Fréchet distance, latent probes.

run = load_run("runs/genesis")
result = evaluate_run(run, num_images=320)   # what experiments.evaluate writes to eval.json
print(format_table(result))
"""

import functools

import jax
import numpy as np
from tqdm.auto import tqdm

from ocg_jax.analysis.counting import count_evaluation
from ocg_jax.analysis.feature_net import scene_features
from ocg_jax.analysis.inception import InceptionFeatures
from ocg_jax.analysis.probes import run_probes
from ocg_jax.analysis.runs import Run
from ocg_jax.data.labels import has_labels, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics.frechet import frechet_distance
from ocg_jax.models.base import sample_fn

EXTRACTORS = ("scene_net", "inception")


#: what the probes read: ``model.features(outputs, sample=...)``
PROBE_FEATURES = {"sample": "posterior samples", "mean": "posterior means"}


@functools.cache
def _eval_fn(recipe, sample: bool):
    """Jitted ``(state, batch, rng) -> (scores {name: [B]}, features [B, D])``: the recipe's
    evaluation of a batch and the model's features of its outputs."""

    def fn(state, batch, rng):
        scores, out = recipe.eval_step(state, batch, rng)
        return scores, recipe.model.features(out, sample=sample)

    return jax.jit(fn)


def make_eval_batch(run: Run, probe_features: str = "sample"):
    """``(batch {field: [B, ...]}, rng) -> (scores {name: [B]}, features [B, D])``; the batch
    holds the recipe's ``eval_fields`` the split has (uint8 images, masks, labels)."""
    fn = _eval_fn(run.recipe, probe_features == "sample")
    return lambda batch, rng: fn(run.state, batch, rng)


def default_feature_net_steps(num_train: int) -> int:
    """3,000 steps of 64 (the full sets), fewer for small sets: 20 epochs, at least 300."""
    return min(3000, max(300, 20 * num_train // 64))


def _batches(num: int, size: int, desc: str, progress: bool):
    starts = range(0, num, size)
    return tqdm(starts, desc=desc, disable=not progress, leave=False, unit="batch")


def _infer(run, eval_batch, source, num, batch_size, seed, desc, progress):
    """Scores and features of the first ``num`` examples of ``source``."""
    scores, feats, images = [], [], []
    for i, start in enumerate(_batches(num, batch_size, desc, progress)):
        n = min(batch_size, num - start)
        ex = load_examples(source, n, run.recipe.eval_fields, start, missing_ok=True)
        spec = run.model.input_spec
        spec.check_stored(ex[spec.field])
        rng = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        s, f = jax.device_get(eval_batch(ex, rng))
        scores.append(s)
        feats.append(f)
        images.append(ex[spec.field])
    scores = {k: np.concatenate([s[k] for s in scores]) for k in scores[0]}
    return scores, np.concatenate(feats), np.concatenate(images)


def sample_images(run: Run, num: int, batch_size: int, seed: int = 0, progress=False):
    """``num`` prior samples (the composed scenes), float ``[num, H, W, C]`` in [0, 1]."""
    sample = sample_fn(run.model)
    out = []
    for i, start in enumerate(_batches(num, batch_size, "sampling", progress)):
        rng = jax.random.fold_in(jax.random.PRNGKey(seed + 7), i)
        recon = sample(run.variables, rng, min(batch_size, num - start)).recon
        out.append(np.clip(run.model.input_spec.to_unit(recon), 0.0, 1.0))
    return np.concatenate(out)


def get_extractor(
    run: Run,
    name: str,
    inception_weights: str | None = None,
    feature_net_steps: int | None = None,
    progress: bool = False,
):
    """The feature extractor ``name`` for ``run``'s dataset (see ``EXTRACTORS``);
    ``feature_net_steps`` None: ``default_feature_net_steps`` of the train split."""
    if name == "scene_net":
        data = run.config.data
        if feature_net_steps is None:
            train = load_source(data.name, data.config, "train", run.data_dir, prepare=False)
            feature_net_steps = default_feature_net_steps(len(train))
        return scene_features(
            data.name, data.config, run.data_dir, steps=feature_net_steps, progress=progress
        )
    if name == "inception":
        if not inception_weights:
            raise ValueError("the inception extractor needs --inception_weights=FILE (see README)")
        return InceptionFeatures.from_file(inception_weights)
    raise ValueError(f"unknown feature extractor {name!r}; known: {EXTRACTORS}")


def evaluate_run(
    run: Run,
    *,
    split: str = "test",
    num_images: int = 320,
    batch_size: int = 32,
    fd_images: int = 1000,
    fd_samples: int = 1000,
    extractor: str = "scene_net",
    inception_weights: str | None = None,
    feature_net_steps: int | None = None,
    probe_train_images: int = 1000,
    probe_test_images: int = 500,
    probe_features: str = "sample",
    disentanglement_images: int = 10_000,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Everything ``eval.json`` holds for ``run`` (means over images; see ``format_table``).

    ``fd_images`` / ``fd_samples`` = 0 skips the Fréchet distance, ``probe_train_images``
    = 0 the probes.  The paper uses 320 images for segmentation and 10,000 / 10,000 for FID.
    Sizes larger than their split are cut to it, with a note (printed with ``progress``, and
    in the result's ``notes``).  ``probe_features``: ``"sample"`` (the original's) or
    ``"mean"``.  Families that score disentanglement (``model.disentangles``) add
    ``result["disentanglement"]`` from ``disentanglement_images`` examples of the split.
    """
    if probe_features not in PROBE_FEATURES:
        raise ValueError(f"probe_features must be one of {sorted(PROBE_FEATURES)}")
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {extractor!r}; known: {EXTRACTORS}")
    if fd_images and fd_samples and extractor == "inception" and not inception_weights:
        raise ValueError("the inception extractor needs inception_weights=FILE (see README)")
    data = run.config.data
    notes = []
    if run.model.input_spec.field != "image":  # no pictures to compare
        fd_images = 0
    elif fd_images and fd_samples and extractor == "scene_net" and not has_labels(data.name):
        notes.append(
            f"no Fréchet distance: the offline feature net trains on scene labels, which "
            f"{data.name!r} does not have (use --extractor=inception with its weights)"
        )
        if progress:
            print(f"note: {notes[-1]}")
        fd_images = 0
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    train = load_source(data.name, data.config, "train", run.data_dir, prepare=False)
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")

    def clip(what: str, n: int, src, split_name: str) -> int:
        if n <= len(src):
            return n
        notes.append(
            f"{what}={n} is more than the {len(src)} images of the {split_name} split; "
            f"using {len(src)}"
        )
        if progress:
            print(f"note: {notes[-1]}")
        return len(src)

    num_images = clip("num_images", num_images, source, split)
    if fd_images and fd_samples:
        fd_images = clip("fd_images", fd_images, source, split)
    if probe_train_images and probe_test_images and has_labels(data.name):
        probe_test_images = clip("probe_test_images", probe_test_images, source, split)
        probe_train_images = clip("probe_train_images", probe_train_images, train, "train")
    eval_batch = make_eval_batch(run, probe_features)
    probing = bool(probe_train_images and probe_test_images and has_labels(data.name))
    n_split = max(num_images, probe_test_images) if probing else num_images
    # one pass over the split: its first num_images give the scores, the probes' test set
    # is its first probe_test_images
    scores, feats, images = _infer(
        run, eval_batch, source, n_split, batch_size, seed, split, progress
    )
    scores = {k: v[:num_images] for k, v in scores.items()}
    result = {
        "workdir": str(run.workdir),
        "model": run.model.name,
        "step": run.step,
        "seed": run.config.seed,
        "dataset": f"{data.name}/{data.config}",
        "split": split,
        "num_images": num_images,
        "metrics": {k: float(np.nanmean(v)) for k, v in scores.items()},
        "metrics_std": {k: float(np.nanstd(v)) for k, v in scores.items()},
        "notes": notes,
    }
    if fd_images and fd_samples:
        feat = get_extractor(run, extractor, inception_weights, feature_net_steps, progress)
        unit = lambda x: run.model.input_spec.to_unit(run.model.input_spec.preprocess(x))
        test = unit(load_examples(source, fd_images, ["image"])["image"])
        ref = unit(load_examples(train, min(fd_images, len(train)), ["image"])["image"])
        samples = sample_images(run, fd_samples, batch_size, seed, progress)
        f_test = feat(test)
        result["frechet"] = {
            "extractor": feat.name,
            "test_vs_samples": frechet_distance(f_test, feat(samples)),
            "test_vs_train": frechet_distance(f_test, feat(ref)),
            "num_test_images": fd_images,
            "num_samples": fd_samples,
        }
    if getattr(run.model, "counts_objects", False):
        result["counting"] = count_evaluation(run, split, num_images, batch_size, seed, progress)
    if getattr(run.model, "segments_foreground", False):
        from ocg_jax.analysis.foreground import foreground_evaluation

        result["foreground"] = foreground_evaluation(
            run, scores, eval_batch, batch_size, seed, progress
        )
    if getattr(run.model, "collapse_metrics", ()) and run.config.get("collapse") is not None:
        from ocg_jax.train import collapse

        areas = {k: result["metrics"][k] for k in run.model.collapse_metrics}
        result["collapse"] = collapse.summary(run.workdir, areas, run.config)
    if getattr(run.model, "disentangles", False):
        from ocg_jax.analysis.disentangling import disentanglement_evaluation

        result["disentanglement"] = disentanglement_evaluation(
            run, split, disentanglement_images, seed=seed, progress=progress
        )
    if probing:
        _, f_tr, x_tr = _infer(
            run, eval_batch, train, probe_train_images, batch_size, seed, "probe train", progress
        )
        f_te, x_te = feats[:probe_test_images], images[:probe_test_images]
        y_tr = scene_labels(data.name, load_examples(train, probe_train_images))
        y_te = scene_labels(data.name, load_examples(source, probe_test_images))
        pixels = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0
        result["probes"] = {
            "features": PROBE_FEATURES[probe_features],
            "train_images": probe_train_images,
            "test_images": probe_test_images,
            "latents": run_probes(f_tr, y_tr, f_te, y_te, seed=seed),
            "pixels": run_probes(pixels(x_tr), y_tr, pixels(x_te), y_te, seed=seed),
        }
    return result


def format_table(result: dict) -> str:
    """A plain-text table of ``evaluate_run``'s result."""
    lines = [
        f"{result['model']} at step {result['step']} on {result['dataset']} "
        f"({result['split']}, {result['num_images']} images)",
        f"{'metric':<28}{'mean':>12}{'std':>12}",
    ]
    for k, v in result["metrics"].items():
        lines.append(f"{k:<28}{v:>12.4f}{result['metrics_std'][k]:>12.4f}")
    if "frechet" in result:
        fd = result["frechet"]
        lines.append(
            f"{'fd test vs samples':<28}{fd['test_vs_samples']:>12.3f}  ({fd['extractor']})"
        )
        lines.append(f"{'fd test vs train (floor)':<28}{fd['test_vs_train']:>12.3f}")
    for name, c in result.get("counting", {}).items():
        lines.append(
            f"{'count accuracy ' + name:<28}{c['count_accuracy']:>12.4f}  "
            + (
                f"(box IoU {c['box_iou']:.3f}, "
                if c["box_iou"] is not None
                else "(no box inferred, "
            )
            + f"{c['num_images']} images)"
        )
        lines.append(
            f"{'  one sample of q':<28}{c['count_accuracy_sampled']:>12.4f}  (chance: "
            f"{c['count_accuracy_majority']:.4f}, the most common count)"
        )
        lines.append(f"{'  confusion (true x pred)':<28}{c['count_confusion']}")
    for protocol, fg in result.get("foreground", {}).items():
        if isinstance(fg, dict):
            lines.append(
                f"{'fg ' + protocol:<28}  accuracy {fg['accuracy']:.4f}  IoU {fg['iou']:.4f}"
                + (f"  (region {fg['region']})" if "region" in fg else "")
            )
    if "collapse" in result:
        c = result["collapse"]
        lines.append(
            f"{'collapse':<28}  restarts {c['restarts']}, flagged {c['flagged']}, collapsed now "
            f"{c['collapsed']} (an area outside [{c['threshold']:g}, {1 - c['threshold']:g}])"
        )
    for name, value in result.get("disentanglement", {}).items():
        lines.append(
            f"{name:<28}{value:>12.4f}" if isinstance(value, float) else f"{name:<28}{value:>12}"
        )
    if "probes" in result:
        lines.append(f"{'probe accuracy':<28}{'latents':>12}{'pixels':>12}{'majority':>10}")
        for label, row in result["probes"]["latents"].items():
            px = result["probes"]["pixels"][label]
            for kind in ("logistic", "mlp"):
                lines.append(
                    f"{label + ' ' + kind:<28}{row[kind]:>12.3f}{px[kind]:>12.3f}"
                    f"{row['majority']:>10.3f}"
                )
    return "\n".join(lines)
