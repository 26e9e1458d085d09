"""Time the train step of a config; prints one JSON line.

    python -m experiments.benchmark --config=experiments/configs/genesis_multi_dsprites.py \
        --batch_size=32 [--steps=10 --warmup=2]
    python -m experiments.benchmark --config=experiments/configs/monet_multi_dsprites.py  # etc.

Synthetic uint8 images of the config's size; every step blocks on its result.  The line
ends with the CPU model, its cores, JAX's backend and its float32 matmul rate
(``timing.machine_info``), to compare runs across machines.
"""

import json
import os
import resource

from absl import flags, logging
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file[:variant]")
_BATCH = flags.DEFINE_integer("batch_size", 32, "global batch size")
_STEPS = flags.DEFINE_integer("steps", 10, "timed steps (median reported)")
_WARMUP = flags.DEFINE_integer("warmup", 2, "untimed steps after compilation")
flags.mark_flags_as_required(["config"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from experiments.timing import machine_info, time_train_step

    config = _CONFIG.value
    result = time_train_step(config, _BATCH.value, _STEPS.value, _WARMUP.value)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = {"model": config.model.name, "batch_size": _BATCH.value, **result}
    line |= {"peak_rss_mb": round(peak, 1), "xla_flags": os.environ.get("XLA_FLAGS", "")}
    line["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    line |= machine_info()  # measured after the step, so that it cannot disturb the step
    print(json.dumps(line))


if __name__ == "__main__":
    cli.run(main)
