"""Segmentation metrics on label maps: ARI (ARI-FG) and segmentation covering.

Inputs are integer label maps ``[B, ...]`` (any trailing shape, e.g.
``[B, H, W]``); label 0 of ``true_ids`` is the background.  Both functions
return ``[B]`` and are jit-able; under ``jit`` pass ``num_true`` /
``num_pred`` (one more than the largest label), which are otherwise read off
the data; labels at or above them are not counted.
"""

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _num_labels(ids, given: int | None, name: str) -> int:
    if given is not None:
        return int(given)
    if isinstance(ids, jax.core.Tracer):
        raise ValueError(f"under jit, pass {name}= (one more than the largest label)")
    return int(np.max(np.asarray(ids))) + 1


def _contingency(true_ids, pred_ids, num_true, num_pred, weights) -> Array:
    """``[B, num_true, num_pred]`` (weighted) counts of co-occurring labels."""
    if true_ids.shape != pred_ids.shape:
        raise ValueError(f"true_ids {true_ids.shape} and pred_ids {pred_ids.shape} differ in shape")
    if not (
        jnp.issubdtype(true_ids.dtype, jnp.integer) and jnp.issubdtype(pred_ids.dtype, jnp.integer)
    ):
        raise TypeError(f"label maps must be integers, got {true_ids.dtype} and {pred_ids.dtype}")
    b = true_ids.shape[0]
    t = jax.nn.one_hot(true_ids.reshape(b, -1), num_true, dtype=jnp.float32)
    p = jax.nn.one_hot(pred_ids.reshape(b, -1), num_pred, dtype=jnp.float32)
    return jnp.einsum("bnt,bnp->btp", t * weights[..., None], p)


def adjusted_rand_index(
    true_ids,
    pred_ids,
    *,
    ignore_background: bool = False,
    num_true: int | None = None,
    num_pred: int | None = None,
) -> Array:
    """Adjusted Rand index per image, ``[B]``; equals sklearn's ``adjusted_rand_score``.

    With ``ignore_background`` (ARI-FG) only pixels whose true label is not 0
    count.  Computed from the pair-confusion matrix like sklearn, so a perfect
    match (including a single cluster on both sides) scores exactly 1.
    """
    true_ids, pred_ids = jnp.asarray(true_ids), jnp.asarray(pred_ids)
    num_true = _num_labels(true_ids, num_true, "num_true")
    num_pred = _num_labels(pred_ids, num_pred, "num_pred")
    b = true_ids.shape[0]
    weights = jnp.ones(true_ids.reshape(b, -1).shape, jnp.float32)
    if ignore_background:
        weights = (true_ids.reshape(b, -1) != 0).astype(jnp.float32)
    c = _contingency(true_ids, pred_ids, num_true, num_pred, weights)
    n = c.sum(axis=(1, 2))
    sum_sq = jnp.sum(c**2, axis=(1, 2))
    sum_rows = jnp.sum(c.sum(axis=2) ** 2, axis=1)
    sum_cols = jnp.sum(c.sum(axis=1) ** 2, axis=1)
    # pair confusion (sklearn.metrics.cluster.pair_confusion_matrix), divided by n^2
    scale = jnp.maximum(n, 1.0) ** 2
    tp = (sum_sq - n) / scale
    fp = (sum_cols - sum_sq) / scale
    fn = (sum_rows - sum_sq) / scale
    tn = (n**2 - sum_rows - sum_cols + sum_sq) / scale
    denom = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    ari = 2.0 * (tp * tn - fn * fp) / jnp.where(denom == 0, 1.0, denom)
    perfect = (fn == 0) & (fp == 0)
    return jnp.where(perfect, 1.0, ari)


def segmentation_covering(
    true_ids,
    pred_ids,
    *,
    ignore_background: bool = True,
    weighted: bool = False,
    num_true: int | None = None,
    num_pred: int | None = None,
) -> Array:
    """Segmentation covering per image, ``[B]``.

    For each ground-truth segment R (not the background when
    ``ignore_background``), the best IoU with any predicted segment; averaged
    over segments with weights |R| (``weighted=True``: SC) or equally (mSC).
    IoUs are over all pixels.  An image with no such segment gives NaN.
    """
    true_ids, pred_ids = jnp.asarray(true_ids), jnp.asarray(pred_ids)
    num_true = _num_labels(true_ids, num_true, "num_true")
    num_pred = _num_labels(pred_ids, num_pred, "num_pred")
    b = true_ids.shape[0]
    c = _contingency(
        true_ids, pred_ids, num_true, num_pred, jnp.ones(true_ids.reshape(b, -1).shape, jnp.float32)
    )
    size_t = c.sum(axis=2)  # [B, T]
    size_p = c.sum(axis=1)  # [B, P]
    union = size_t[:, :, None] + size_p[:, None, :] - c
    best_iou = jnp.max(c / jnp.where(union == 0, 1.0, union), axis=2)  # [B, T]
    present = size_t > 0
    if ignore_background:
        present = present.at[:, 0].set(False)
    w = jnp.where(present, size_t if weighted else 1.0, 0.0)
    total = w.sum(axis=1)
    return jnp.where(
        total > 0, jnp.sum(w * best_iou, axis=1) / jnp.where(total > 0, total, 1.0), jnp.nan
    )


def mask_scores(log_masks, true_ids, *, num_true: int) -> dict[str, Array]:
    """Every segmentation score of predicted masks, per image ``[B]``.

    ``log_masks [B, K, H, W, 1]`` (argmax over K is the predicted segment),
    ``true_ids [B, H, W]`` with labels below ``num_true``.  Returns ``ari``,
    ``ari_fg``, ``sc_fg`` and ``msc_fg`` (covering of the foreground segments).
    """
    pred = jnp.argmax(log_masks[..., 0], axis=1)  # [B, H, W]
    true = jnp.asarray(true_ids).astype(jnp.int32)
    kw = dict(num_true=num_true, num_pred=log_masks.shape[1])
    return {
        "ari": adjusted_rand_index(true, pred, **kw),
        "ari_fg": adjusted_rand_index(true, pred, ignore_background=True, **kw),
        "sc_fg": segmentation_covering(true, pred, weighted=True, **kw),
        "msc_fg": segmentation_covering(true, pred, weighted=False, **kw),
    }
