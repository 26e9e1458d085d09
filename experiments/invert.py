"""Layer-wise inversion of a GAN, DC-VAE, BD-VAE, MONet or GENESIS(-S) run: what it cannot
reconstruct.

python -m experiments.invert --workdir=runs/gan_cpu [--num_images=500 --steps=3000]

Starts from codes z0 (a GAN: the paper's hybrid encoder, per-stage inverse networks
composed and trained on the generator's samples; a VAE: the posterior means) and
reconstructs test images three ways:
G(z0), z optimised from z0 by L-BFGS, and z with residuals on the outputs of the
early decoder layers (--layers; by default as many as keep the free numbers within
half the pixel values) optimised (L1 pixel + L1 feature loss + lambda sum mean(delta^2);
Adam 0.01, halved at 800, 1200, 1800; the features: VGG-16's with --vgg_weights, as the
paper, else the dataset's scene net).  Writes WORKDIR/inversion.json
(per method: free parameters and pixel values per image, pixel MSE and per-class
area error of the segmentations) and WORKDIR/inversion.png (real images, each
reconstruction, each beside its segmentation).
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (holds config.json, checkpoints/)")
_NUM = flags.DEFINE_integer("num_images", 500, "test images to invert")
_STEPS = flags.DEFINE_integer("steps", 3000, "steps per image (L-BFGS for z, Adam layer-wise)")
_ENC_STEPS = flags.DEFINE_integer(
    "encoder_steps", 2000, "training steps of each phase of the GAN's hybrid encoder"
)
_LAMBDA = flags.DEFINE_float("lam", 1.0, "weight of the deltas' penalty")
_LAYERS = flags.DEFINE_integer(
    "layers", None, "early decoder stages that get a residual (default: within half the pixels)"
)
_SEG_STEPS = flags.DEFINE_integer(
    "segmenter_steps", None, "segmenter training steps (cached; default: 8000, fewer on tiny data)"
)
_FNET_STEPS = flags.DEFINE_integer(
    "feature_net_steps", None, "scene-net training steps (cached; default as in evaluate)"
)
_VGG = flags.DEFINE_string(
    "vgg_weights",
    None,
    "torchvision's vgg16-397923af.pth (or an .npz of it): the paper's "
    "feature loss; default: the dataset's scene net",
)
_STEP = flags.DEFINE_integer("checkpoint_step", None, "checkpoint to load (default: latest)")
_METHODS = flags.DEFINE_list(
    "methods", "encoder,z,layerwise", "which of encoder, z, layerwise to run"
)
_Z_SEARCH = flags.DEFINE_enum(
    "z_search", "per_image", ["per_image", "joint"],
    "the z-only baseline: L-BFGS per image (the paper's) or one on each chunk's summed loss "
    "(10-18x faster on a CPU, a higher loss at equal steps)",
)  # fmt: skip
_OUT = flags.DEFINE_string("out_dir", None, "where to write the JSON and PNG (default: WORKDIR)")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    from ocg_jax.analysis.inversion import format_report, run_inversion
    from ocg_jax.analysis.runs import load_run

    run = load_run(_WORKDIR.value, _STEP.value)
    report = run_inversion(
        run,
        _NUM.value,
        _STEPS.value,
        _ENC_STEPS.value,
        _LAMBDA.value,
        _LAYERS.value,
        _SEG_STEPS.value,
        _FNET_STEPS.value,
        _OUT.value,
        methods=_METHODS.value,
        progress=True,
        vgg_weights=_VGG.value,
        z_search=_Z_SEARCH.value,
    )
    print(format_report(report))
    print(f"wrote {report['out_dir']}/inversion.json and inversion.png")


if __name__ == "__main__":
    cli.run(main)
