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
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.models.base import sample_fn
from ocg_jax.train.recipes import compile_eval_step


def make_pictures(run: Run, num: int = 8, split: str = "test", seed: int = 0) -> dict:
    """``{name: uint8 [H, W, 3]}`` grids of ``num`` columns each, rows labelled."""
    data = run.config.data
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    # a scatter of points shows the whole split (up to 4,096), a grid ``num`` images
    count = num if run.model.input_spec.field == "image" else min(len(source), 4096)
    batch = load_examples(source, count, run.recipe.eval_fields, missing_ok=True)
    rng = jax.random.PRNGKey(seed)
    _, out = compile_eval_step(run.recipe)(run.state, batch, rng)
    pics = run.recipe.draw(run.state, batch, out, jax.random.fold_in(rng, 1), num)
    if not run.model.samples:  # ReDO redraws images; it has no prior to sample
        return pics
    samples = sample_fn(run.model)(run.variables, jax.random.fold_in(rng, 1), num)
    if getattr(samples, "log_masks", None) is not None:  # outputs with masks
        spec = run.model.input_spec
        comps = spec.to_unit(np.asarray(samples.components))
        steps = viz.component_by_component(samples.log_masks, comps)
        masks = np.exp(np.asarray(samples.log_masks))  # [N, K, H, W, 1]
        recon = np.clip(spec.to_unit(np.asarray(samples.recon)), 0, 1)
        overlay = viz.segmentation_overlay(recon, samples.log_masks)
        k = masks.shape[1]
        labels = [f"components 1-{i}" for i in range(1, k + 1)] + ["segmentation"]
        pics["generation_steps"] = viz.label_rows(viz.grid(steps + [overlay]), labels)
        rows, labels = [], []
        for i in range(k):
            rows += [np.repeat(masks[:, i], 3, axis=-1), comps[:, i]]
            labels += [f"mask {i + 1}", f"component {i + 1}"]
        pics["sample_components"] = viz.label_rows(viz.grid(rows), labels)
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
