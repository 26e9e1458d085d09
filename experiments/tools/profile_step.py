"""Where a config's train step spends its time, per XLA op (JAX profiler trace).

    python -m experiments.tools.profile_step \
        --config=experiments/configs/genesis_multi_dsprites.py --batch_size=32 [--steps=2 --top=30]

Traces ``--steps`` compiled steps on synthetic images and prints one JSON line:
the wall time per step, the traced op time per step summed over XLA:CPU's
threads, and the ``--top`` ops by time with their output shape and the JAX
code they come from.  XLA:CPU's own convolution kernels are not traced, so
their time is roughly the wall time minus the traced time divided by the
threads that ran ops.
"""

import collections
import glob
import json
import os
import re
import tempfile
import time

from absl import flags
from ml_collections import config_flags

from experiments import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file[:variant]")
_BATCH = flags.DEFINE_integer("batch_size", 32, "global batch size")
_STEPS = flags.DEFINE_integer("steps", 2, "traced steps")
_TOP = flags.DEFINE_integer("top", 30, "ops to list")
flags.mark_flags_as_required(["config"])


def _op_info(hlo: str) -> dict[str, tuple[str, str]]:
    """HLO instruction name -> (output shape, JAX op_name metadata)."""
    info = {}
    for line in hlo.splitlines():
        m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+) ", line)
        if m:
            op = re.search(r'op_name="([^"]+)"', line)
            info[m.group(1)] = (m.group(2).split("{")[0], op.group(1) if op else "")
    return info


def main(argv):
    del argv
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
    ).strip()
    import jax

    from experiments.tools.timing import compile_train_step_for

    compiled, state, batch, _ = compile_train_step_for(_CONFIG.value, _BATCH.value)
    info = _op_info(compiled.as_text())
    for _ in range(2):
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
    n = _STEPS.value
    with tempfile.TemporaryDirectory() as trace_dir:
        t0 = time.perf_counter()
        with jax.profiler.trace(trace_dir):
            for _ in range(n):
                state, metrics = compiled(state, batch)
                jax.block_until_ready(metrics)
        wall = (time.perf_counter() - t0) / n
        data = jax.profiler.ProfileData.from_file(
            glob.glob(f"{trace_dir}/**/*.xplane.pb", recursive=True)[0]
        )
        ops = collections.Counter()
        for plane in data.planes:
            for line in plane.lines:
                if line.name == "python":
                    continue
                for ev in line.events:
                    if ev.name in info:  # ops only, not the executor's own events
                        ops[ev.name] += ev.duration_ns / 1e6 / n
    top = [
        {"op": name, "ms": round(ms, 1), "shape": info[name][0], "source": info[name][1][-120:]}
        for name, ms in ops.most_common(_TOP.value)
    ]
    line = {
        "model": _CONFIG.value.model.name,
        "batch_size": _BATCH.value,
        "wall_ms_per_step": round(1000 * wall, 1),
        "traced_op_ms_per_step": round(sum(ops.values()), 1),
        "top_ops": top,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    cli.run(main)
