"""``train_and_evaluate(config, workdir)``: the whole training run.

Resumes from the latest checkpoint in ``workdir/checkpoints`` (train state and
loader position), so a run continued with a larger ``num_steps`` ends where an
uninterrupted run would.  Metrics are fetched from the devices only every
``log_every`` steps; a non-finite loss then stops the run before any later
checkpoint is written.
"""

import functools
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ocg_jax.data.pipeline import ShardedLoader, load_examples, load_source
from ocg_jax.models.registry import get_model
from ocg_jax.train import collapse
from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.logging import NullLogger, RunLogger
from ocg_jax.train.recipes import Recipe, build, compile_eval_step, compile_train_step
from ocg_jax.train.sharding import batch_sharding, make_mesh
from ocg_jax.train.state import TrainState, abstract_train_state, create_train_state


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf."""


def run_meta(config: ml_collections.ConfigDict) -> dict:
    # through JSON, so it compares equal to what the checkpoint stored (tuples -> lists)
    return json.loads(
        json.dumps({"model": config.model.name, "model_config": config.model.to_dict()})
    )


def _json_config(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def _check_data_dir(data) -> str | None:
    """``config.data.data_dir``, or None for tfds's default; an empty string is refused (it
    would silently mean ``~/tensorflow_datasets``)."""
    if data.data_dir is not None and not str(data.data_dir).strip():
        raise ValueError(
            "config.data.data_dir is empty; leave it unset for tfds's default "
            "(~/tensorflow_datasets) or give a directory"
        )
    return data.data_dir


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    mesh: jax.sharding.Mesh | None = None,
    progress: bool = True,
) -> TrainState:
    """Train ``config`` in ``workdir`` (resuming if it holds a checkpoint); return the state.

    Everything that can be checked (model, recipe, data, the first validation batch) is
    checked before ``workdir`` is touched, so a failed start leaves nothing behind.  With
    ``progress``, a bar, and a line on where the run's output is.  A run that watches for
    collapse (``config.collapse``, ``ocg_jax.train.collapse``) restarts here when one is
    found and ``config.collapse.restart`` is set.
    """
    mesh = make_mesh() if mesh is None else mesh
    model = get_model(config.model)
    recipe = build(model, config)
    built = model, recipe, compile_train_step(recipe, mesh)  # once: a restart reuses the step
    while True:
        try:
            return _train(config, Path(workdir), mesh, progress, built)
        except collapse.CollapseError as e:
            _restart_after_collapse(config, Path(workdir), e, progress)


def _restart_after_collapse(config, workdir: Path, error, progress: bool) -> None:
    """Move aside every checkpoint (``collapse.from_scratch``) or those written since the
    areas began to drift, and record the restart."""
    ckpt = Checkpointer(
        workdir / "checkpoints", save_every=config.checkpoint_every, max_to_keep=config.max_to_keep
    )
    before_drift = (s for s in ckpt.all_steps() if s < error.drift_start)
    from_scratch = collapse.settings(config)["from_scratch"]
    healthy = None if from_scratch else max(before_drift, default=None)
    moved = ckpt.move_after(healthy, "collapsed")
    ckpt.close()
    record = collapse.read_record(workdir)
    record["restarts"].append(
        {
            "step": error.step,
            "streak_start": error.streak_start,
            "drift_start": error.drift_start,
            "resumed_from": healthy,
        }
    )
    collapse.write_record(workdir, record)
    where = f"checkpoint {healthy}" if healthy is not None else "scratch"
    _say(
        progress and jax.process_index() == 0,
        f"restart {len(record['restarts'])} of {collapse.settings(config)['max_restarts']}: "
        f"from {where} with new randomness ({len(moved)} later checkpoint(s) moved to "
        "checkpoints.collapsed/)",
    )


def _train(config, workdir: Path, mesh, progress: bool, built) -> TrainState:
    model, recipe, train_step = built
    data = config.data
    source = functools.partial(
        load_source,
        data.name,
        data.config,
        data_dir=_check_data_dir(data),
        prepare=data.prepare,
        manual_dir=data.get("manual_dir"),
    )
    train_src, val_src = source("train"), source(data.eval_split)
    loader = ShardedLoader(
        train_src,
        batch_size=config.batch_size,
        sharding=batch_sharding(mesh),
        seed=config.seed,
        fields=recipe.fields,
        num_threads=data.num_threads,
        device_prefetch=data.get("device_prefetch", 2),
    )
    spec = model.input_spec
    val_host = load_examples(val_src, config.eval_images, recipe.eval_fields, missing_ok=True)
    spec.check_stored(val_host[spec.field])
    check_data = getattr(model, "check_data", None)  # a family's own checks of its labels
    if check_data is not None:
        check_data(val_host)
    val = _global_batch(val_host, batch_sharding(mesh))
    primary = jax.process_index() == 0  # writes logs, pictures and config.json
    progress = progress and primary

    watch = collapse.settings(config)
    watched = tuple(getattr(model, "collapse_metrics", ()))
    record = collapse.read_record(workdir)
    restarts = len(record["restarts"])
    monitor = (
        collapse.CollapseMonitor(
            watched, *(watch[k] for k in ("threshold", "window", "healthy", "drift", "drift_steps"))
        )
        if watch and watched
        else None
    )
    ckpt = Checkpointer(
        workdir / "checkpoints", save_every=config.checkpoint_every, max_to_keep=config.max_to_keep
    )
    meta = run_meta(config)
    try:
        if ckpt.latest_step() is not None:  # resume: restore into shapes, no initialisation
            state, loader_state = ckpt.restore(abstract_train_state(recipe, mesh), meta)
            state = collapse.reseed(state, record, int(state.step))
            loader.set_state(loader_state)
            for line in ckpt.skipped:
                _say(primary, f"warning: {line}")
        else:
            seed = config.seed + 7919 * restarts  # a restart from scratch: new randomness
            state = create_train_state(recipe, jax.random.PRNGKey(seed), mesh)
    except BaseException:
        ckpt.close()
        raise
    if primary:
        (workdir / "config.json").write_text(_json_config(config))

    start = int(state.step)
    if start >= config.num_steps:
        ckpt.close()
        _say(
            progress,
            f"{workdir} is already complete at step {start} (num_steps="
            f"{config.num_steps}); raise --config.num_steps to train on",
        )
        return state
    if start:
        _say(progress, f"resuming {workdir} from step {start}")
    logger = (
        RunLogger(workdir, total_steps=config.num_steps, initial_step=start, progress=progress)
        if primary
        else NullLogger()
    )
    pending: list[tuple[int, dict]] = []
    last_good = ckpt.latest_step()

    def stop(what: str, step: int, row: dict):
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in row.items())
        where = (
            f"the last good checkpoint is step {last_good} in {ckpt.directory}"
            if last_good is not None
            else "no checkpoint was written yet"
        )
        raise NonFiniteLossError(f"{what} at step {step} ({shown}); stopping: {where}")

    def watch_collapse(step: int, row: dict):
        nonlocal monitor
        try:
            monitor.check(step, row)
        except collapse.CollapseError as e:
            logger.scalars(step, {"collapsed": 1.0})
            _say(primary, f"warning: {e}")
            if watch["restart"] and restarts < watch["max_restarts"]:
                raise
            why = (
                "config.collapse.restart is off"
                if not watch["restart"]
                else (f"it restarted {restarts} times already (max_restarts)")
            )
            _say(primary, f"not restarting: {why}; training on")
            if e.early:
                monitor.drift = 0.0  # said once; the areas are still watched
            else:
                monitor = None  # said once

    def flush():
        """Fetch pending metrics (one host sync), check them, log the means."""
        if not pending:
            return
        steps, rows = zip(*pending, strict=True)
        rows = jax.device_get(list(rows))
        pending.clear()
        for s, row in zip(steps, rows, strict=True):
            bad = [k for k in recipe.finite if not math.isfinite(float(row[k]))]
            if bad:
                stop(f"{', '.join(bad)} is not finite", s, row)
            if monitor is not None:
                watch_collapse(s, row)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1]}
        logger.scalars(steps[-1], mean)
        logger.progress(steps[-1], {k: mean[k] for k in recipe.progress if k in mean})

    try:
        for step in range(start + 1, config.num_steps + 1):
            batch = next(loader)
            if step == start + 1:
                spec.check_stored(batch[spec.field])
                if check_data is not None:
                    check_data(jax.device_get(batch))
            state, metrics = train_step(state, batch)
            pending.append((step, metrics))
            last = step == config.num_steps
            if step % config.log_every == 0 or last:
                flush()
            if step % config.eval_every == 0 or last or step == 1:  # step 1: a baseline
                flush()
                if not _finite(state.params):
                    stop("the parameters are not finite after the update", step, {})
                evaluate_and_draw(recipe, state, val, val_host, logger, step, config.seed)
            if ckpt.should_save(step) or last:
                flush()
                ckpt.save(step, state, loader.get_state(), meta, force=last)
                last_good = step
    finally:
        ckpt.wait()
        ckpt.close()
        logger.close()
    _say(
        progress,
        f"trained to step {int(state.step)}; the run is in {workdir}: metrics.jsonl, "
        "images/, tensorboard/ and checkpoints/ (evaluate it with "
        f"python -m experiments.evaluate --workdir={workdir})",
    )
    return state


def _global_batch(arrays: dict, sharding) -> dict:
    """Host arrays every process holds in full -> global arrays sharded by ``sharding``."""
    return {
        k: jax.make_array_from_callback(v.shape, sharding, lambda idx, v=v: v[idx])
        for k, v in arrays.items()
    }


@jax.jit
def _all_finite(tree) -> jax.Array:
    return jax.tree.reduce(
        lambda a, b: a & b, jax.tree.map(lambda x: jnp.all(jnp.isfinite(x)), tree), True
    )


def _finite(tree) -> bool:
    return bool(_all_finite(tree))


def evaluate_and_draw(
    recipe: Recipe,
    state: TrainState,
    val: dict,
    val_host: dict,
    logger: RunLogger,
    step: int,
    seed: int,
    num_images: int = 8,
) -> dict:
    """Validation metrics (``val_<score>``, batch means) at ``step`` and the recipe's
    pictures of the first ``num_images`` validation images (``val`` on the devices,
    ``val_host`` the same in numpy).  Every process computes; the logger of process 0
    writes."""
    rng = jax.random.fold_in(jax.random.PRNGKey(seed + 1), step)
    mesh = jax.tree.leaves(val)[0].sharding.mesh
    scores, out = compile_eval_step(recipe, mesh)(state, val, rng)  # replicated outputs
    metrics = {f"val_{k}": float(np.nanmean(v)) for k, v in jax.device_get(scores).items()}
    logger.scalars(step, metrics)
    first = {k: v[:num_images] for k, v in val_host.items()}
    for name, image in recipe.draw(state, first, out, rng, num_images).items():
        logger.image(step, name, image)
    return metrics
