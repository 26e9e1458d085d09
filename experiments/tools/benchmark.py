"""Time the train step of a config (and with ``--loop`` the training loop); one JSON line.

    python -m experiments.tools.benchmark --config=experiments/configs/genesis_multi_dsprites.py \
        --batch_size=32 [--steps=10 --warmup=2] [--loop]
    python -m experiments.tools.benchmark --config=experiments/configs/monet_multi_dsprites.py

``train_step_ms_median``: the compiled step alone on synthetic uint8 images, every step
blocking on its result.  ``--loop`` adds ``loop_step_ms_median``: the same step fed by
the loop's loader from the config's real data (generated first if missing), syncing as
the loop does, and ``loop_over_step``: its ratio to the same step on one fixed batch in
alternating windows (``timing.time_loop``), what the input side costs.  The
line ends with the CPU model, its cores, JAX's backend and its float32 matmul rate
(``timing.machine_info``), to compare runs across machines.
"""

import json
import os
import resource

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file[:variant]")
_BATCH = flags.DEFINE_integer("batch_size", 32, "global batch size")
_STEPS = flags.DEFINE_integer("steps", 10, "timed steps (median reported)")
_WARMUP = flags.DEFINE_integer("warmup", 2, "untimed steps after compilation")
_LOOP = flags.DEFINE_bool("loop", False, "also time the training loop on the config's data")
flags.mark_flags_as_required(["config"])


def main(argv):
    del argv
    from experiments.tools.timing import machine_info, time_loop, time_train_step

    config = _CONFIG.value
    result = time_train_step(config, _BATCH.value, _STEPS.value, _WARMUP.value)
    if _LOOP.value:
        result |= time_loop(config, _BATCH.value, _STEPS.value, _WARMUP.value)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = {"model": config.model.name, "batch_size": _BATCH.value, **result}
    line |= {"peak_rss_mb": round(peak, 1), "xla_flags": os.environ.get("XLA_FLAGS", "")}
    line["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    line |= machine_info()  # measured after the step, so that it cannot disturb the step
    print(json.dumps(line))


if __name__ == "__main__":
    cli.run(main)
