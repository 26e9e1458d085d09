"""Segment statistics of a run: FSD and per-class areas, real vs generated images.

python -m experiments.segment_stats --workdir=runs/genesis [--num_images=2000]

Writes WORKDIR/segment_stats.json (FSD with its mean and covariance terms, the
real-vs-real floor, per-class mean areas and relative change, the segmenter's test
scores, and under ``reference`` which held-out images the real sets are: the
segmenter never trained on them) and WORKDIR/segment_stats.png (the histogram);
``experiments.compare`` then shows FSD.  The segmenter is trained on the dataset's
class maps the first time and cached.
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (holds config.json, checkpoints/)")
_NUM = flags.DEFINE_integer(
    "num_images", 2000, "generated images, and held-out real images per set (paper: 10000)"
)
_STEP = flags.DEFINE_integer("checkpoint_step", None, "checkpoint to load (default: latest)")
_BATCH = flags.DEFINE_integer("batch_size", 64, "sampling and segmenting batch size")
_SEG_STEPS = flags.DEFINE_integer(
    "segmenter_steps", None, "segmenter training steps (cached; default: 8000, fewer on tiny data)"
)
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_OUT = flags.DEFINE_string("out_dir", None, "where to write the JSON and PNG (default: WORKDIR)")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.analysis.segment_stats import format_report, run_segment_stats

    run = load_run(_WORKDIR.value, _STEP.value)
    report = run_segment_stats(
        run, _NUM.value, _BATCH.value, _SEED.value, _SEG_STEPS.value, _OUT.value, progress=True
    )
    print(format_report(report))
    print(f"wrote {report['out_dir']}/segment_stats.json and segment_stats.png")


if __name__ == "__main__":
    cli.run(main)
