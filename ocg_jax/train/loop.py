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

from ocg_jax import viz
from ocg_jax.data.pipeline import (
    ShardedLoader,
    check_image_batch,
    load_examples,
    load_source,
    to_float,
)
from ocg_jax.metrics.segmentation import mask_scores
from ocg_jax.models.base import ModelFamily, sample_fn
from ocg_jax.models.registry import get_model
from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.logging import RunLogger
from ocg_jax.train.sharding import batch_sharding, make_mesh
from ocg_jax.train.state import TrainState, abstract_train_state, create_train_state
from ocg_jax.train.steps import compile_train_step, kl_weights, make_elbo_step, make_optimizer


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf."""


@functools.cache
def make_eval_fn(model: ModelFamily, max_label: int):
    """Jitted ``(state, images uint8, masks, rng) -> (metrics, outputs)`` in eval mode."""

    def eval_fn(state: TrainState, images, masks, rng):
        out, _ = model.apply(
            {"params": state.params, **state.model_state}, to_float(images), rng, train=False
        )
        metrics = {f"val_{k}": jnp.mean(v) for k, v in out.losses.items()}
        if getattr(out, "log_masks", None) is not None:
            scores = mask_scores(out.log_masks, masks, num_true=max_label + 1)
            metrics["ari_fg"] = jnp.mean(scores["ari_fg"])
            metrics["msc_fg"] = jnp.nanmean(scores["msc_fg"])
        return metrics, out

    return jax.jit(eval_fn)


def run_meta(config: ml_collections.ConfigDict) -> dict:
    # through JSON, so it compares equal to what the checkpoint stored (tuples -> lists)
    return json.loads(
        json.dumps({"model": config.model.name, "model_config": config.model.to_dict()})
    )


def _optim_part(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    keys = ("optim", "geco", "beta", "kl_weights")
    return ml_collections.ConfigDict({k: config[k] for k in keys if k in config})


@functools.cache
def _optimizer_and_step(model: ModelFamily, optim_json: str, mesh: jax.sharding.Mesh):
    """``(tx, compiled train step)``; cached so that a run continued in the same process
    (a notebook cell run again, a resumed run in the tests) does not compile again."""
    optim = ml_collections.ConfigDict(json.loads(optim_json))
    tx = make_optimizer(optim, model.image_shape)
    step = make_elbo_step(model, tx, optim.beta, kl_weights(model, optim))
    return tx, compile_train_step(step, mesh)


def _json_config(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    mesh: jax.sharding.Mesh | None = None,
    progress: bool = True,
) -> TrainState:
    """Train ``config`` in ``workdir`` (resuming if it holds a checkpoint); return the state."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = make_mesh() if mesh is None else mesh
    model = get_model(config.model)
    tx, train_step = _optimizer_and_step(model, _json_config(_optim_part(config)), mesh)
    data = config.data
    data_dir = data.data_dir or None
    source = functools.partial(
        load_source,
        data.name,
        data.config,
        data_dir=data_dir,
        prepare=data.prepare,
        manual_dir=data.get("manual_dir"),
    )
    train_src, val_src = source("train"), source(data.eval_split)
    loader = ShardedLoader(
        train_src,
        batch_size=config.batch_size,
        sharding=batch_sharding(mesh),
        seed=config.seed,
        num_threads=data.num_threads,
    )

    ckpt = Checkpointer(
        workdir / "checkpoints", save_every=config.checkpoint_every, max_to_keep=config.max_to_keep
    )
    meta = run_meta(config)
    if ckpt.latest_step() is not None:  # resume: restore into shapes, no initialisation
        state, loader_state = ckpt.restore(abstract_train_state(model, tx, mesh), meta)
        loader.set_state(loader_state)
    else:
        state = create_train_state(model, tx, jax.random.PRNGKey(config.seed), mesh)
    (workdir / "config.json").write_text(_json_config(config))

    start = int(state.step)
    eval_fn = make_eval_fn(model, data.max_label)
    sampler = sample_fn(model)
    n_eval = config.eval_images
    val = load_examples(val_src, n_eval, ("image", "mask"))
    check_image_batch(val["image"], model.image_shape)
    val = jax.device_put(val, batch_sharding(mesh))
    logger = RunLogger(workdir, total_steps=config.num_steps, initial_step=start, progress=progress)
    pending: list[tuple[int, dict]] = []
    last_good = ckpt.latest_step()

    def flush():
        """Fetch pending metrics (one host sync), check them, log the means."""
        if not pending:
            return
        steps, rows = zip(*pending, strict=True)
        rows = jax.device_get(list(rows))
        pending.clear()
        for s, row in zip(steps, rows, strict=True):
            if not math.isfinite(float(row["loss"])):
                raise NonFiniteLossError(
                    f"loss is {float(row['loss'])} at step {s} (nll={float(row['nll'])}); stopping."
                    f" The last good checkpoint is step {last_good} in {ckpt.directory}"
                )
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1]}
        logger.scalars(steps[-1], mean)
        logger.progress(steps[-1], mean)

    try:
        for step in range(start + 1, config.num_steps + 1):
            batch = next(loader)
            if step == start + 1:
                check_image_batch(batch["image"], model.image_shape)
            state, metrics = train_step(state, batch)
            pending.append((step, metrics))
            last = step == config.num_steps
            if step % config.log_every == 0 or last:
                flush()
            if step % config.eval_every == 0 or last or step == 1:  # step 1: a baseline
                flush()
                evaluate_and_draw(eval_fn, sampler, state, val, logger, step, config.seed)
            if ckpt.should_save(step) or last:
                flush()
                ckpt.save(step, state, loader.get_state(), meta, force=last)
                last_good = step
    finally:
        ckpt.wait()
        ckpt.close()
        logger.close()
    return state


def evaluate_and_draw(
    eval_fn,
    sampler,
    state: TrainState,
    val: dict,
    logger: RunLogger,
    step: int,
    seed: int,
    num_images: int = 8,
) -> dict:
    """Validation metrics at ``step`` and PNG grids of reconstructions and samples."""
    rng = jax.random.fold_in(jax.random.PRNGKey(seed + 1), step)
    metrics, out = eval_fn(state, val["image"], val["mask"], rng)
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    logger.scalars(step, metrics)
    images = np.asarray(to_float(val["image"][:num_images]))
    if getattr(out, "log_masks", None) is not None:
        rows = viz.scene_rows(images, out.recon, out.log_masks, out.components, num_images)
    else:
        rows = [images, np.asarray(out.recon[:num_images])]
    logger.image(step, "reconstructions", viz.grid(rows))
    samples = sampler({"params": state.params, **state.model_state}, rng, num_images)
    logger.image(step, "samples", viz.grid([np.asarray(samples.recon)]))
    return metrics
