"""Evaluate a run's checkpoint; writes DIR/eval.json and prints a table.

python -m experiments.evaluate --workdir=runs/genesis [--num_images=320 --split=test]
    [--checkpoint_step=N] [--extractor=inception --inception_weights=pt_inception.pth]
"""

import json

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (holds config.json, checkpoints/)")
_SPLIT = flags.DEFINE_string("split", "test", "dataset split to evaluate on")
_NUM = flags.DEFINE_integer("num_images", 320, "images for the ELBO and segmentation scores")
_STEP = flags.DEFINE_integer("checkpoint_step", None, "checkpoint to load (default: latest)")
_BEST = flags.DEFINE_bool(
    "best",
    False,
    "evaluate the checkpoint of the best validation score (config.keep_best) instead of the "
    "last; writes eval_best.json",
)
_BATCH = flags.DEFINE_integer("batch_size", 32, "evaluation batch size")
_FD_IMAGES = flags.DEFINE_integer(
    "fd_images", 1000, "test images for the Fréchet distance (paper: 10000; 0 skips)"
)
_FD_SAMPLES = flags.DEFINE_integer(
    "fd_samples", 1000, "prior samples for the Fréchet distance (paper: 10000)"
)
_EXTRACTOR = flags.DEFINE_enum(
    "extractor", "scene_net", ["scene_net", "inception"], "Fréchet features"
)
_WEIGHTS = flags.DEFINE_string("inception_weights", None, "Inception-v3 FID weights (.pth or .npz)")
_FNET_STEPS = flags.DEFINE_integer(
    "feature_net_steps",
    None,
    "training steps of the offline feature net, cached per value (default: 3000, fewer for "
    "small train splits)",
)
_PROBE_FEATURES = flags.DEFINE_enum(
    "probe_features",
    "sample",
    ["sample", "mean"],
    "probe posterior samples (the original's) or means",
)
_PROBE_TRAIN = flags.DEFINE_integer("probe_train_images", 1000, "train images for probes (0 skips)")
_PROBE_TEST = flags.DEFINE_integer("probe_test_images", 500, "test images for probes")
_DIS_IMAGES = flags.DEFINE_integer(
    "disentanglement_images",
    10_000,
    "examples of the split whose encodings give the disentanglement scores (families that "
    "score them)",
)
_DCI_IMAGES = flags.DEFINE_integer(
    "dci_images", 2_000, "of those, the first this many fit DCI's gradient-boosted trees"
)
_EVALUATORS = flags.DEFINE_list(
    "evaluators",
    None,
    "evaluators to run, comma-separated (default: the config's evaluators, else the family's; "
    "see ocg_jax/analysis/evaluators.py)",
)
_IW_SAMPLES = flags.DEFINE_integer(
    "iw_samples", 100, "importance samples a log p(x) estimate (the original: 1000)"
)
_IW_IMAGES = flags.DEFINE_integer("iw_images", 500, "images whose log p(x) is estimated")
_OUT = flags.DEFINE_string("out", None, "where to write the JSON (default: WORKDIR/eval.json)")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    from ocg_jax.analysis.evaluation import evaluate_run, format_table
    from ocg_jax.analysis.runs import load_run

    run = load_run(_WORKDIR.value, _STEP.value, best=_BEST.value)
    result = evaluate_run(
        run,
        split=_SPLIT.value,
        num_images=_NUM.value,
        batch_size=_BATCH.value,
        fd_images=_FD_IMAGES.value,
        fd_samples=_FD_SAMPLES.value,
        extractor=_EXTRACTOR.value,
        inception_weights=_WEIGHTS.value,
        feature_net_steps=_FNET_STEPS.value,
        probe_train_images=_PROBE_TRAIN.value,
        probe_test_images=_PROBE_TEST.value,
        probe_features=_PROBE_FEATURES.value,
        disentanglement_images=_DIS_IMAGES.value,
        dci_images=_DCI_IMAGES.value,
        iw_samples=_IW_SAMPLES.value,
        iw_images=_IW_IMAGES.value,
        evaluators=",".join(_EVALUATORS.value or []),
    )
    out = _OUT.value or str(run.workdir / ("eval_best.json" if _BEST.value else "eval.json"))
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(format_table(result))
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.run(main)
