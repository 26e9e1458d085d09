"""Pictures from a run's checkpoint: reconstructions with masks, samples, and scenes
generated component by component; PNGs in DIR/pictures and in TensorBoard.

    python -m experiments.visualise --workdir=runs/genesis [--num=8 --checkpoint_step=N]
"""

from absl import flags

from experiments import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory")
_NUM = flags.DEFINE_integer("num", 8, "columns (scenes) per picture")
_STEP = flags.DEFINE_integer("checkpoint_step", None, "checkpoint to load (default: latest)")
_SPLIT = flags.DEFINE_string("split", "test", "split of the reconstructed images")
_OUT_DIR = flags.DEFINE_string(
    "out_dir", None, "where to write the PNGs (default WORKDIR/pictures)"
)
_SEED = flags.DEFINE_integer("seed", 0, "seed for posterior and prior samples")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv
    from ocg_jax.analysis.pictures import make_pictures, write_pictures
    from ocg_jax.analysis.runs import load_run

    run = load_run(_WORKDIR.value, _STEP.value)
    for line in run.skipped:
        print(f"warning: {line}; drawing checkpoint {run.step}", flush=True)
    pics = make_pictures(run, _NUM.value, _SPLIT.value, _SEED.value)
    for path in write_pictures(run, pics, _OUT_DIR.value):
        print(path)


if __name__ == "__main__":
    cli.run(main)
