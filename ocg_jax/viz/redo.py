"""ReDO's picture: each input, its region masks, and each region redrawn with several z."""

import numpy as np

from ocg_jax import viz


def redrawing_grid(spec, images, masks, redraws) -> np.ndarray:
    """uint8 grid: rows input, mask k (k = 0..n-1), then each region redrawn once per z.

    ``images`` uint8 ``[N, S, S, 3]`` as stored, ``masks [N, n, S, S]`` in [0, 1], and
    ``redraws``: one ``[N, n, S, S, 3]`` per noise draw, in the model's range (``spec``).
    """
    rows, labels = [spec.to_unit(spec.preprocess(np.asarray(images)))], ["input"]
    masks = np.asarray(masks)
    for k in range(masks.shape[1]):
        rows.append(np.repeat(masks[:, k, ..., None], 3, axis=-1))
        labels.append(f"mask {k}")
    for k in range(masks.shape[1]):
        for i, r in enumerate(redraws):
            rows.append(np.clip(spec.to_unit(np.asarray(r)[:, k]), 0.0, 1.0))
            labels.append(f"region {k} z{i}")
    return viz.label_rows(viz.grid(rows), labels)
