"""Timing helpers of the benchmark launchers: a config's compiled train step on synthetic
images, single modules, and the machine a number was measured on."""

import os
import platform
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ocg_jax.data.pipeline import ShardedLoader, load_source
from ocg_jax.models.registry import get_model
from ocg_jax.train.recipes import build, compile_train_step
from ocg_jax.train.sharding import batch_sharding, make_mesh, shard_batch
from ocg_jax.train.state import create_train_state


def best_time(fn, *args, repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn(*args)`` after one warm-up call,
    blocking on the result."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def machine_info(size: int = 2048) -> dict:
    """``{cpu, cores, backend, matmul_gflops}``: the host CPU's model name and core count, JAX's
    default backend and the rate of a jitted float32 ``size^3`` matmul on it (the best of 10
    calls).  Machines differ from run to run (a session's CPU is drawn from a pool), so a
    step time means little without these."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    a = jnp.ones((size, size), jnp.float32)
    seconds = best_time(jax.jit(jnp.matmul), a, a, repeats=10)
    gflops = round(2 * size**3 / seconds / 1e9)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "backend": jax.default_backend(),
        "matmul_gflops": gflops,
    }


def time_module(module, x, *, train: bool | None = None) -> tuple[float, float]:
    """``(forward_s, forward_backward_s)`` of ``grad(sum(out^2))`` for a Linen ``module`` on
    ``x`` (``best_time``); ``train`` is passed on for modules that take it, with their batch
    statistics mutable."""
    kw = {} if train is None else {"train": train}
    variables = jax.jit(lambda x: module.init(jax.random.PRNGKey(0), x, **kw))(x)
    mutable = ["batch_stats"] if "batch_stats" in variables else False

    def loss(params, x):
        out = module.apply({**variables, "params": params}, x, **kw, mutable=mutable)
        out = out[0] if mutable else out  # an array or a tuple of arrays
        return sum(jnp.sum(o**2) for o in jax.tree.leaves(out))

    params = variables["params"]
    return (
        best_time(jax.jit(loss), params, x),
        best_time(jax.jit(jax.grad(loss)), params, x),
    )


def compile_train_step_for(config: ml_collections.ConfigDict, batch_size: int):
    """``(compiled_step, state, batch, compile_s)``: the config's train step compiled for
    every device (the mesh of make_mesh), a fresh state and a batch of random uint8 images."""
    model = get_model(config.model)
    mesh = make_mesh()
    recipe = build(model, config)
    state = create_train_state(recipe, jax.random.PRNGKey(0), mesh)
    rng = np.random.default_rng(0)
    shape = (batch_size, *model.input_spec.shape)
    batch = shard_batch({"image": rng.integers(0, 256, shape, np.uint8)}, mesh)
    step = compile_train_step(recipe, mesh)
    t0 = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    return compiled, state, batch, time.perf_counter() - t0


def time_train_step(
    config: ml_collections.ConfigDict, batch_size: int, steps: int = 10, warmup: int = 2
) -> dict:
    """``{compile_s, train_step_ms_median, train_step_ms_min, images_per_s, devices,
    page_faults_per_step}``: the step on every device, each step blocking on its result."""
    compiled, state, batch, compile_s = compile_train_step_for(config, batch_size)
    for _ in range(warmup):
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {
        "devices": jax.device_count(),  # the mesh spans all devices (make_mesh)
        "compile_s": round(compile_s, 2),
        "train_step_ms_median": round(1000 * median, 1),
        "train_step_ms_min": round(1000 * min(times), 1),
        "images_per_s": round(batch_size / median, 2),
        # fresh pages the kernel mapped per step (see ocg_jax/platform/hugepages.py)
        "page_faults_per_step": round(faults / steps),
    }


def time_loop(
    config: ml_collections.ConfigDict, batch_size: int, steps: int = 10, warmup: int = 2
) -> dict:
    """``{loop_step_ms_median, fixed_batch_step_ms_median, loop_over_step, loop_window}``:
    the training loop's step on the config's own data (its loader, threads and device
    prefetch) as ``train_and_evaluate`` runs it, with no host sync inside a window of
    ``loop_window = max(1, steps // 10)`` steps and one at its end (the loop's log step);
    the median over windows of their time per step.  Windows alternate with windows of
    the same step on one fixed batch, so that the ratio of the two medians (the cost of
    the input side) is not the machine's drift between two measurements."""
    data = config.data
    model = get_model(config.model)
    mesh = make_mesh()
    recipe = build(model, config)
    source = load_source(
        data.name, data.config, "train", data.data_dir or None, data.prepare, data.get("manual_dir")
    )
    loader = ShardedLoader(
        source,
        batch_size=batch_size,
        sharding=batch_sharding(mesh),
        seed=config.seed,
        fields=recipe.fields,
        num_threads=data.num_threads,
        device_prefetch=data.get("device_prefetch", 2),
    )
    state = create_train_state(recipe, jax.random.PRNGKey(0), mesh)
    step = compile_train_step(recipe, mesh)
    fixed = next(loader)
    for _ in range(warmup):
        state, metrics = step(state, next(loader))
    jax.block_until_ready((state, metrics))
    window = max(1, steps // 10)
    times = {"loop": [], "fixed": []}
    for _ in range(max(1, steps // window)):
        for kind, batches in (("loop", loader), ("fixed", iter(lambda: fixed, None))):
            t0 = time.perf_counter()
            pending = []
            for _ in range(window):
                state, metrics = step(state, next(batches))
                pending.append(metrics)
            jax.device_get(pending)  # the log step's one sync
            times[kind].append((time.perf_counter() - t0) / window)
    loop, fixed_ms = (1000 * statistics.median(times[k]) for k in ("loop", "fixed"))
    return {
        "loop_step_ms_median": round(loop, 1),
        "fixed_batch_step_ms_median": round(fixed_ms, 1),
        "loop_over_step": round(loop / fixed_ms, 3),
        "loop_window": window,
    }
