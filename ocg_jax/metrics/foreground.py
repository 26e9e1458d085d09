"""Foreground segmentation scores for mask models without labels (ReDO's two protocols).

``masks [B, n, H, W]`` are a model's region masks (probabilities summing to 1 over
``n``), ``truth [B, H, W]`` the ground-truth foreground (nonzero).  Region k's mask
thresholded at 0.5 is the predicted foreground when k is taken as the foreground.
Each function is jit-able and returns per-image ``[B]`` scores.

* ``best_region_scores``: per image, the region whose IoU is best (the lenient
  protocol ReDO reports), with that region's accuracy.  The original's code takes the
  better accuracy and the better IoU separately; one region for both is stricter, and
  differs only where the two disagree (a collapsing model: docs/redo.md).
* ``region_scores`` with a fixed ``region``: the same region for every image,
  chosen once per model (``choose_region`` on validation images).
"""

import jax
import jax.numpy as jnp

Array = jax.Array


def _check(masks, truth) -> None:
    if masks.ndim != 4 or truth.shape != (masks.shape[0], *masks.shape[2:]):
        raise ValueError(
            f"masks must be [B, n, H, W] and truth [B, H, W] of the same B, H, W; got "
            f"{tuple(masks.shape)} and {tuple(truth.shape)}"
        )


def all_region_scores(masks: Array, truth: Array) -> tuple[Array, Array]:
    """``(accuracy, iou)``, each ``[B, n]``: the scores of taking each region as the
    foreground (an image with no foreground in either map has IoU 1)."""
    _check(masks, truth)
    pred = masks > 0.5  # [B, n, H, W]
    true = (truth != 0)[:, None]
    accuracy = jnp.mean(pred == true, axis=(2, 3))
    inter = jnp.sum(pred & true, axis=(2, 3))
    union = jnp.sum(pred | true, axis=(2, 3))
    iou = jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)
    return accuracy, iou


def region_scores(masks: Array, truth: Array, region: int) -> dict[str, Array]:
    """``{"accuracy", "iou"}`` ``[B]`` with region ``region`` as the foreground."""
    accuracy, iou = all_region_scores(masks, truth)
    return {"accuracy": accuracy[:, region], "iou": iou[:, region]}


def best_region_scores(masks: Array, truth: Array) -> dict[str, Array]:
    """``{"accuracy", "iou"}`` ``[B]`` with, per image, the region of best IoU."""
    accuracy, iou = all_region_scores(masks, truth)
    best = jnp.argmax(iou, axis=1)[:, None]
    return {
        "accuracy": jnp.take_along_axis(accuracy, best, 1)[:, 0],
        "iou": jnp.take_along_axis(iou, best, 1)[:, 0],
    }


def choose_region(masks: Array, truth: Array) -> int:
    """The region with the best mean IoU over these (validation) images."""
    return int(jnp.argmax(jnp.mean(all_region_scores(masks, truth)[1], axis=0)))
