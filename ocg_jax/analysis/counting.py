"""Counting evaluation of object-wise runs (AIR): accuracy, confusion, boxes, extrapolation.

Reads each image's inferred count and ``z_where`` boxes (evaluation mode: the modes of
``q``) and compares them with the dataset's ``num_objects`` and ``box`` fields; also the
count of one sample of ``q`` per image (``count_accuracy_sampled``), as Pyro's
``count_accuracy`` reads it.
"""

import functools

import jax
import numpy as np

from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics.counting import count_confusion, matched_box_iou
from ocg_jax.nn.transformer import window_box
from ocg_jax.platform.progress import tqdm


@functools.cache
def _infer_fn(model):
    """Jitted ``(variables, uint8 images, rng) -> (count [B] at the modes, z_pres [B, T],
    boxes [B, T, 4], count [B] of one sample of q)``."""

    def fn(variables, images, rng):
        x = model.input_spec.preprocess(images)
        out, _ = model.apply(variables, x, rng, train=False)
        sampled, _ = model.apply(variables, x, rng, train=True)
        boxes = window_box(out.z_where, model.input_spec.shape[0])
        return out.count, out.z_pres, boxes, sampled.count

    return jax.jit(fn)


def count_scores(run: Run, source, num: int, batch_size: int, seed: int, desc: str, progress):
    """``{"count_accuracy", "count_confusion", "box_iou", "matched_boxes", "num_images"}`` on
    the first ``num`` examples of ``source``."""
    fn = _infer_fn(run.model)
    true, pred, ious, sampled = [], [], [], []
    starts = range(0, num, batch_size)
    for i, start in enumerate(tqdm(starts, desc=desc, disable=not progress, leave=False)):
        ex = load_examples(
            source, min(batch_size, num - start), ["image", "num_objects", "box", "digit"], start
        )
        rng = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        count, z_pres, boxes, count_q = jax.device_get(fn(run.variables, ex["image"], rng))
        true.append(ex["num_objects"])
        pred.append(count)
        sampled.append(count_q)
        ious.append(matched_box_iou(boxes, z_pres > 0, ex["box"], ex["digit"] >= 0))
    true, pred, ious = np.concatenate(true), np.concatenate(pred), np.concatenate(ious)
    sampled = np.concatenate(sampled)
    steps = run.model.net.steps
    return {
        "num_images": int(len(true)),
        "count_accuracy": float(np.mean(true == pred)),
        "count_accuracy_sampled": float(np.mean(true == sampled)),
        # chance: always answering the most common count of the split
        "count_accuracy_majority": float(np.max(np.bincount(true)) / len(true)),
        "count_confusion": count_confusion(true, pred, max(steps, int(true.max()))).tolist(),
        "box_iou": float(ious.mean()) if len(ious) else None,  # None: no box was inferred
        "matched_boxes": int(len(ious)),
    }


def count_evaluation(
    run: Run, split: str, num_images: int, batch_size: int, seed: int, progress: bool
) -> dict:
    """Counting scores on ``split`` and, when the dataset has it, on the 3-digit ``test_3``
    split (extrapolation for a model trained on 0-2 digits)."""
    data = run.config.data
    out = {}
    for name in dict.fromkeys([split, "test_3"]):
        try:
            source = load_source(data.name, data.config, name, run.data_dir, prepare=False)
        except ValueError:  # no such split
            continue
        n = min(num_images, len(source))
        out[name] = count_scores(run, source, n, batch_size, seed, f"counting {name}", progress)
    return out
