"""The pictures a researcher looks at, made from a trained run.

``make_pictures(run)`` returns uint8 grids by name:
  * ``reconstructions``: input, reconstruction, argmax segmentation over the
    input, then each component's mask and masked appearance (mask models);
  * ``samples``: scenes sampled from the prior;
  * ``generation_steps``: prior samples composed component by component
    (rows k = 1..K), the GENESIS users' most-asked-for plot; then the masks;
  * ``sample_components``: each sampled component's mask and appearance.
``write_pictures`` saves them as PNGs under ``workdir/pictures`` and to TensorBoard.
"""

from pathlib import Path

import jax
import numpy as np
from tensorboardX import SummaryWriter

from ocg_jax import viz
from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_examples, load_source, to_float
from ocg_jax.models.base import eval_apply_fn, sample_fn


def make_pictures(run: Run, num: int = 8, split: str = "test", seed: int = 0) -> dict:
    """``{name: uint8 [H, W, 3]}`` grids of ``num`` columns each."""
    data = run.config.data
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    images = load_examples(source, num, ["image"])["image"]
    rng = jax.random.PRNGKey(seed)
    out = eval_apply_fn(run.model)(run.variables, to_float(images), rng)
    x = np.asarray(images, np.float32) / 255.0
    has_masks = getattr(out, "log_masks", None) is not None
    pics = {}
    if has_masks:
        pics["reconstructions"] = viz.grid(
            viz.scene_rows(x, out.recon, out.log_masks, out.components, num)
        )
    else:
        pics["reconstructions"] = viz.grid([x, np.asarray(out.recon)])
    samples = sample_fn(run.model)(run.variables, jax.random.fold_in(rng, 1), num)
    pics["samples"] = viz.grid([np.clip(np.asarray(samples.recon), 0, 1)])
    if has_masks and getattr(samples, "log_masks", None) is not None:
        steps = viz.component_by_component(samples.log_masks, samples.components)
        masks = np.exp(np.asarray(samples.log_masks))  # [N, K, H, W, 1]
        overlay = viz.segmentation_overlay(np.asarray(samples.recon), samples.log_masks)
        pics["generation_steps"] = viz.grid(steps + [np.clip(overlay, 0, 1)])
        rows = []
        comps = np.asarray(samples.components)
        for k in range(masks.shape[1]):
            rows += [np.repeat(masks[:, k], 3, axis=-1), comps[:, k]]
        pics["sample_components"] = viz.grid(rows)
    return pics


def write_pictures(run: Run, pics: dict, out_dir: str | Path | None = None) -> list[Path]:
    """Save ``pics`` as ``<out_dir>/<name>_<step>.png`` (default ``workdir/pictures``) and to
    the run's TensorBoard events; returns the PNG paths."""
    out_dir = Path(out_dir) if out_dir else run.workdir / "pictures"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with SummaryWriter(str(run.workdir / "tensorboard")) as tb:
        for name, array in pics.items():
            path = out_dir / f"{name}_{run.step:07d}.png"
            viz.save_png(array, path)
            tb.add_image(f"eval/{name}", array, run.step, dataformats="HWC")
            paths.append(path)
    return paths
