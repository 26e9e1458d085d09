"""The z-only baseline's two L-BFGS forms on the same images and codes: one JSON line per
draw of the starting codes, with each form's mean final loss and seconds.

    python -m experiments.tools.z_search --workdir=runs/gan_hinge_ema/seed_0 \
        [--num_images=16 --steps=300 --draws=2]

``per_image`` is the original's search (one per image, vmapped over the chunk);
``joint`` is one search on the chunk's summed loss (``--z_search=joint`` of
``experiments.invert``).  Both start from the same random codes, take the same image loss
(the scene net's features) and run in one call, so the seconds include compiling.
``layerwise_step_s`` is one step of the layer-wise Adam search on the same images.
"""

import json
import time

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory of a GAN or VAE")
_NUM = flags.DEFINE_integer("num_images", 16, "test images, searched as one chunk")
_STEPS = flags.DEFINE_integer("steps", 300, "L-BFGS steps")
_DRAWS = flags.DEFINE_integer("draws", 2, "draws of the starting codes")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    import jax
    import numpy as np

    from ocg_jax.analysis import inversion as inv
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.data.pipeline import load_examples, load_source

    run = load_run(_WORKDIR.value)
    model, data, num = run.model, run.config.data, _NUM.value
    test = load_source(data.name, data.config, "test", run.data_dir)
    images = model.input_spec.preprocess(load_examples(test, num, ["image"])["image"])
    features, decoder = inv.scene_features_fn(model, run), inv.Decoder(model)
    shapes, names, _ = inv.residual_stages(
        decoder, run.variables, model.noise(jax.random.PRNGKey(0), 1), images[0].size
    )
    layerwise = inv.LayerwiseSearch(decoder, features, tuple((k, shapes[k]) for k in names))
    for draw in range(_DRAWS.value):
        z0 = model.noise(jax.random.PRNGKey(draw), num)
        row = {"draw": draw, "num_images": num, "steps": _STEPS.value}
        for form in ("per_image", "joint"):
            search = inv.CodeSearch(decoder, features, per_image=form == "per_image")
            start = time.perf_counter()
            _, losses = inv.search(search, run.variables, z0, images, _STEPS.value, _STEPS.value)
            row[f"{form}_loss"] = float(np.mean(losses))
            row[f"{form}_s"] = round(time.perf_counter() - start, 1)
        state = layerwise.init(run.variables, z0)
        jax.block_until_ready(layerwise.advance(run.variables, state, images, 1))
        start = time.perf_counter()
        jax.block_until_ready(layerwise.advance(run.variables, state, images, 10))
        row["layerwise_step_s"] = round((time.perf_counter() - start) / 10, 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    cli.run(main)
