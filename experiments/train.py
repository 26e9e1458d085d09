r"""Train a model from a config file.

    python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py:quick \
        --workdir=runs/quick [--config.batch_size=16 ...]
    # one process per host (README, "Many hosts"):
    python -m experiments.train ... --coordinator_address=HOST:PORT --num_processes=N --process_id=I
"""

import sys

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "experiment config file[:variant]", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "directory for checkpoints, logs and images")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from ocg_jax.train.resume import completed_step

    done = completed_step(_WORKDIR.value, _CONFIG.value)  # said before JAX starts: ~0.5 s
    if done is not None:
        print(f"{_WORKDIR.value} is already complete at step {done} (num_steps="
              f"{_CONFIG.value.num_steps}); raise --config.num_steps to train on")  # fmt: skip
        return
    cli.init_distributed()
    from ocg_jax.train.loop import Interrupted, train_and_evaluate

    try:
        train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except Interrupted as e:  # a checkpoint of the last step is saved: rerun to resume
        print(f"{e}; checkpoint {e.step} saved; the same command resumes", file=sys.stderr)
        sys.exit(128 + e.signum)


if __name__ == "__main__":
    cli.run(main)
