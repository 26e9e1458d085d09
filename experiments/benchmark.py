"""Time the train step of a config; prints one JSON line.

    python -m experiments.benchmark --config=experiments/configs/genesis_multi_dsprites.py \
        --batch_size=32 [--steps=10 --warmup=2]

Synthetic uint8 images of the config's size; every step blocks on its result.
"""

import json
import resource
import statistics
import time

from absl import app, flags, logging
from ml_collections import config_flags

from experiments.xla_flags import set_cpu_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file[:variant]")
_BATCH = flags.DEFINE_integer("batch_size", 32, "global batch size")
_STEPS = flags.DEFINE_integer("steps", 10, "timed steps (median reported)")
_WARMUP = flags.DEFINE_integer("warmup", 2, "untimed steps after compilation")
flags.mark_flags_as_required(["config"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    set_cpu_flags()
    import jax
    import numpy as np

    from ocg_jax.models.registry import get_model
    from ocg_jax.train.sharding import make_mesh, shard_batch
    from ocg_jax.train.state import create_train_state
    from ocg_jax.train.steps import compile_train_step, make_elbo_step, make_optimizer

    config = _CONFIG.value
    model = get_model(config.model)
    mesh = make_mesh()
    tx = make_optimizer(config, model.image_shape)
    state = create_train_state(model, tx, jax.random.PRNGKey(0), mesh)
    rng = np.random.default_rng(0)
    batch = shard_batch(
        {"image": rng.integers(0, 256, (_BATCH.value, *model.image_shape), np.uint8)}, mesh
    )
    step = compile_train_step(make_elbo_step(model, tx, config.beta), mesh)

    t0 = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    compile_s = time.perf_counter() - t0
    for _ in range(_WARMUP.value):
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
    times = []
    for _ in range(_STEPS.value):
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "model": config.model.name,
                "batch_size": _BATCH.value,
                "devices": mesh.size,
                "compile_s": round(compile_s, 2),
                "train_step_ms_median": round(1000 * median, 1),
                "train_step_ms_min": round(1000 * min(times), 1),
                "images_per_s": round(_BATCH.value / median, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "xla_flags": __import__("os").environ.get("XLA_FLAGS", ""),
            }
        )
    )


if __name__ == "__main__":
    app.run(main)
