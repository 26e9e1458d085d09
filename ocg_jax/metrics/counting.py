"""Counting and localisation scores of object-wise models (AIR), on numpy arrays.

Boxes are ``(y0, x0, y1, x1)`` pixel edges; ``present`` marks the slots that hold one.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment


def count_confusion(true: np.ndarray, pred: np.ndarray, max_count: int) -> np.ndarray:
    """``[max_count + 1, max_count + 1]`` int: row = true count, column = predicted count
    (predictions above ``max_count`` fall in the last column)."""
    true = np.asarray(true, np.int64)
    pred = np.minimum(np.asarray(pred, np.int64), max_count)
    if true.min(initial=0) < 0 or true.max(initial=0) > max_count:
        raise ValueError(f"true counts must lie in 0..{max_count}")
    out = np.zeros((max_count + 1, max_count + 1), np.int64)
    np.add.at(out, (true, pred), 1)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``[N, M]`` of boxes ``a [N, 4]`` and ``b [M, 4]``."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    h = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    w = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
    inter = h * w
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def matched_box_iou(
    pred: np.ndarray, pred_present: np.ndarray, true: np.ndarray, true_present: np.ndarray
) -> np.ndarray:
    """IoU of each matched (predicted, true) pair, over all images, as one flat array.

    Per image the present predicted and true boxes (``[N, T, 4]``, ``[N, T]``) are paired
    to maximise the summed IoU (Hungarian); unpaired boxes (wrong counts) add no pair."""
    out = []
    for p, pp, t, tp in zip(pred, pred_present, true, true_present, strict=True):
        p, t = p[np.asarray(pp, bool)], t[np.asarray(tp, bool)]
        if len(p) and len(t):
            iou = box_iou(p, t)
            rows, cols = linear_sum_assignment(-iou)
            out.extend(iou[rows, cols])
    return np.asarray(out, np.float64)
