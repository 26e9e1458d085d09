"""Segment statistics of a run: FSD and per-class areas, training vs generated images.

python -m experiments.segment_stats --workdir=runs/genesis [--num_images=2000]

Writes WORKDIR/segment_stats.json (FSD with its mean and covariance terms, the
training-vs-training floor, per-class mean areas and relative change, the
segmenter's test scores) and WORKDIR/segment_stats.png (the histogram);
``experiments.compare`` then shows FSD.  The segmenter is trained on the dataset's
class maps the first time and cached.
"""

from absl import flags, logging

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory (holds config.json, checkpoints/)")
_NUM = flags.DEFINE_integer(
    "num_images", 2000, "generated images, and training images per set (paper: 10000)"
)
_STEP = flags.DEFINE_integer("checkpoint_step", None, "checkpoint to load (default: latest)")
_BATCH = flags.DEFINE_integer("batch_size", 64, "sampling and segmenting batch size")
_SEG_STEPS = flags.DEFINE_integer("segmenter_steps", 3000, "segmenter training steps (cached)")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_OUT = flags.DEFINE_string("out_dir", None, "where to write the JSON and PNG (default: WORKDIR)")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.analysis.segment_stats import largest_drop, run_segment_stats

    run = load_run(_WORKDIR.value, _STEP.value)
    report = run_segment_stats(
        run, _NUM.value, _BATCH.value, _SEED.value, _SEG_STEPS.value, _OUT.value, progress=True
    )
    seg = report["segmenter"]
    print(f"segmenter: pixel accuracy {seg['pixel_accuracy']:.3f}, mean IoU {seg['mean_iou']:.3f}")
    fsd, floor = report["fsd"], report["floor"]
    print(
        f"FSD {fsd['fsd']:.3f} (mean {fsd['mean_term']:.3f} + covariance "
        f"{fsd['covariance_term']:.3f}); training-vs-training floor {floor['fsd']:.3f}"
    )
    for r in report["classes"]:
        change = "n/a" if r["relative_change"] is None else f"{r['relative_change']:+.1%}"
        print(
            f"  {r['class']:<12} train {r['train_area']:6.2f}%  generated "
            f"{r['generated_area']:6.2f}%  {change}"
        )
    drop = largest_drop(report)
    print(f"most under-generated: {drop['class']} ({drop['relative_change']:+.1%})")
    print(f"wrote {report['out_dir']}/segment_stats.json and segment_stats.png")


if __name__ == "__main__":
    cli.run(main)
