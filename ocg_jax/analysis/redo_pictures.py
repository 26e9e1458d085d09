"""ReDO's picture: each input, its region masks, and each region redrawn with several z."""

import functools

import jax
import numpy as np

from ocg_jax import viz


@functools.cache
def _redraw_fn(model):
    from ocg_jax.models.redo import ReDONet

    return jax.jit(lambda v, x, z: model.net.apply(v, x, z, False, method=ReDONet.redraw)[::2])


def redrawing_grid(model, variables, images, rng, num_z: int = 3) -> np.ndarray:
    """uint8 grid: rows input, mask k (k = 0..n-1), then for each region ``num_z`` redraws."""
    spec = model.input_spec
    x = spec.preprocess(np.asarray(images))
    rows, labels = [spec.to_unit(x)], ["input"]
    redraws = []
    for i in range(num_z):
        z = model.noise(jax.random.fold_in(rng, i), x.shape[0])
        masks, redrawn = _redraw_fn(model)(variables, x, z)
        redraws.append(np.asarray(redrawn))
    masks = np.asarray(masks)
    for k in range(masks.shape[1]):
        rows.append(np.repeat(masks[:, k, ..., None], 3, axis=-1))
        labels.append(f"mask {k}")
    for k in range(masks.shape[1]):
        for i, r in enumerate(redraws):
            rows.append(np.clip(spec.to_unit(r[:, k]), 0.0, 1.0))
            labels.append(f"region {k} z{i}")
    return viz.label_rows(viz.grid(rows), labels)
