"""``train_and_evaluate(config, workdir)``: the whole training run.

Resumes from the latest checkpoint in ``workdir/checkpoints`` (train state and
loader position), so a run continued with a larger ``num_steps`` ends where an
uninterrupted run would; only the settings in ``resume.RESUMABLE`` may change on resume.
Metrics are fetched from the devices only every ``log_every`` steps; a non-finite
loss then stops the run before any later checkpoint is written.  One live run holds a
workdir (``lock.py``).  SIGTERM (what schedulers send before they kill) or SIGINT ends
the step in progress, saves a checkpoint and stops (``Interrupted``); a second SIGINT
stops at once.  docs/reliability.md: what a run survives.
"""

import contextlib
import functools
import json
import math
import signal
import sys
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ocg_jax.data.pipeline import ShardedLoader, load_examples, load_source
from ocg_jax.models.registry import get_model
from ocg_jax.train import collapse
from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.lock import WorkdirLock
from ocg_jax.train.logging import NullLogger, RunLogger
from ocg_jax.train.monitors import RestartRun
from ocg_jax.train.recipes import Recipe, build, compile_eval_step, compile_train_step
from ocg_jax.train.resume import check_resumable, json_config
from ocg_jax.train.sharding import batch_sharding, make_mesh
from ocg_jax.train.state import TrainState, abstract_train_state, create_train_state


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf."""


class Interrupted(Exception):  # noqa: N818 - a stop that was asked for
    """SIGTERM or SIGINT stopped the run after saving a checkpoint at ``step``."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}")
        self.signum, self.step = signum, step


@contextlib.contextmanager
def _stop_requests():
    """``flag`` (a list, empty until SIGTERM or SIGINT arrives: then the signal number);
    a second SIGINT raises ``KeyboardInterrupt`` at once.  Off the main thread: no
    handlers (signals cannot be caught there)."""
    flag: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handle(signum, frame):
        if flag and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.append(signum)

    old = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_meta(config: ml_collections.ConfigDict) -> dict:
    # through JSON, so it compares equal to what the checkpoint stored (tuples -> lists)
    return json.loads(
        json.dumps({"model": config.model.name, "model_config": config.model.to_dict()})
    )


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
    """Print ``text`` when ``progress``: warnings to stderr, the rest to stdout."""
    if progress:
        print(text, file=sys.stderr if text.startswith("warning:") else sys.stdout, flush=True)


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
    ``progress``, a bar, and a line on where the run's output is.  A family's monitor
    (``model.monitors``) may ask for a restart; the run then starts again here.
    """
    mesh = make_mesh() if mesh is None else mesh
    model = get_model(config.model)
    recipe = build(model, config)
    built = model, recipe, compile_train_step(recipe, mesh)  # once: a restart reuses the step
    while True:
        try:
            return _Training(config, Path(workdir), mesh, progress, built).run()
        except RestartRun as restart:
            _say(progress and jax.process_index() == 0, restart.prepare())


#: monitors by name (``model.monitors``): ``create(model, config, workdir, log=, say=)``
MONITORS = {"collapse": collapse.CollapseWatch.create}


class _Training:
    """One attempt at a run: set up, restore, step, log, evaluate, save."""

    def __init__(self, config, workdir: Path, mesh, progress: bool, built):
        self.config, self.workdir, self.mesh = config, workdir, mesh
        self.model, self.recipe, self.train_step = built
        self.primary = jax.process_index() == 0  # writes logs, pictures and config.json
        self.progress = progress and self.primary
        self.logger = NullLogger()
        self.pending: list[tuple[int, dict]] = []
        self.monitors = self._monitors()
        self._data()

    def _monitors(self) -> list:
        unknown = sorted(set(self.model.monitors) - set(MONITORS))
        if unknown:
            raise ValueError(f"{self.model.name!r} names unknown monitors {unknown}")
        say = functools.partial(_say, self.primary)
        made = [MONITORS[n](self.model, self.config, self.workdir, log=self._log, say=say)
                for n in self.model.monitors]  # fmt: skip
        return [m for m in made if m is not None]

    def _log(self, step: int, values: dict) -> None:
        self.logger.scalars(step, values)

    def _data(self) -> None:
        """The loader, and the validation batch checked against the model."""
        data, recipe, spec = self.config.data, self.recipe, self.model.input_spec
        source = functools.partial(
            load_source, data.name, data.config, data_dir=_check_data_dir(data),
            prepare=data.prepare, manual_dir=data.get("manual_dir"),
        )  # fmt: skip
        seed = self.config.seed
        for m in self.monitors:
            seed = m.seed(seed)
        self.seed = seed
        self.loader = ShardedLoader(
            source("train"), batch_size=self.config.batch_size, sharding=batch_sharding(self.mesh),
            seed=seed, fields=recipe.fields, num_threads=data.num_threads,
            device_prefetch=data.get("device_prefetch", 2),
        )  # fmt: skip
        val_src = source(data.eval_split)
        self.val_host = load_examples(
            val_src, self.config.eval_images, recipe.eval_fields, missing_ok=True
        )
        spec.check_stored(self.val_host[spec.field])
        self.model.check_data(self.val_host)
        self.val = _global_batch(self.val_host, batch_sharding(self.mesh))

    def _start(self) -> TrainState:
        """The state to train from: the latest checkpoint's, or a fresh one."""
        c = self.config
        stored = self.workdir / "config.json"
        if stored.exists() and (self.workdir / "checkpoints").is_dir():
            check_resumable(json.loads(stored.read_text()), c, self.workdir)
        self.ckpt = Checkpointer(
            self.workdir / "checkpoints", save_every=c.checkpoint_every, max_to_keep=c.max_to_keep
        )
        self.meta = run_meta(c)
        self.best = BestCheckpoint.open(self.workdir, c.get("keep_best"), self.meta)
        try:
            if self.ckpt.latest_step() is None:
                if self.best is not None:
                    self.best.reset()  # a fresh start (or a restart): no best yet
                return create_train_state(self.recipe, jax.random.PRNGKey(self.seed), self.mesh)
            target = abstract_train_state(self.recipe, self.mesh)
            state, loader_state = self.ckpt.restore(target, self.meta)
            for m in self.monitors:
                state = m.restored(state, int(state.step))
            self.loader.set_state(loader_state)
            for line in self.ckpt.skipped:
                _say(self.primary, f"warning: {line}")
            return state
        except BaseException:
            self.ckpt.close()
            if self.best is not None:
                self.best.close()
            raise

    def run(self) -> TrainState:
        lock = WorkdirLock(self.workdir, say=functools.partial(_say, True))
        with lock if self.primary else contextlib.nullcontext(), _stop_requests() as stop:
            self.stop = stop
            return self._run()

    def _run(self) -> TrainState:
        state = self._start()
        if self.primary:
            (self.workdir / "config.json").write_text(json_config(self.config))
        start, total = int(state.step), self.config.num_steps
        if start >= total:
            self.ckpt.close()
            _say(self.progress, f"{self.workdir} is already complete at step {start} "
                 f"(num_steps={total}); raise --config.num_steps to train on")  # fmt: skip
            return state
        if start:
            _say(self.progress, f"resuming {self.workdir} from step {start}")
        if self.primary:
            self.logger = RunLogger(
                self.workdir, total_steps=total, initial_step=start, progress=self.progress
            )
        self.last_good = self.ckpt.latest_step()
        try:
            state = self._steps(state, start)
        finally:
            self.ckpt.wait()
            self.ckpt.close()
            if self.best is not None:
                self.best.close()
            self.logger.close()
        _say(self.progress, f"trained to step {int(state.step)}; the run is in {self.workdir}: "
             "metrics.jsonl, images/, tensorboard/ and checkpoints/ (evaluate it with "
             f"python -m experiments.evaluate --workdir={self.workdir})")  # fmt: skip
        return state

    def _steps(self, state: TrainState, start: int) -> TrainState:
        c, spec = self.config, self.model.input_spec
        for step in range(start + 1, c.num_steps + 1):
            batch = next(self.loader)
            if step == start + 1:
                spec.check_stored(batch[spec.field])
                self.model.check_data(_local_rows(batch))
            state, metrics = self.train_step(state, batch)
            self.pending.append((step, metrics))
            last = step == c.num_steps
            if step % c.log_every == 0 or last:
                self._flush()
            if step % c.eval_every == 0 or last or step == 1:  # step 1: a baseline
                self._flush()
                if not _finite(state.params):
                    self._stop("the parameters are not finite after the update", step, {})
                val = evaluate_and_draw(
                    self.recipe, state, self.val, self.val_host, self.logger, step, c.seed
                )
                for m in self.monitors:
                    m.evaluated(step, val)
                if self.best is not None:
                    self.best.offer(step, state, val)
            if self.ckpt.should_save(step) or last or self.stop:
                self._flush()
                self.ckpt.save(step, state, self.loader.get_state(), self.meta, force=True)
                self.last_good = step
            if self.stop:
                self.ckpt.wait()
                raise Interrupted(self.stop[0], step)
        return state

    def _flush(self) -> None:
        """Fetch pending metrics (one host sync), check them, log the means."""
        if not self.pending:
            return
        steps, rows = zip(*self.pending, strict=True)
        rows = jax.device_get(list(rows))
        self.pending.clear()
        for s, row in zip(steps, rows, strict=True):
            bad = [k for k in self.recipe.finite if not math.isfinite(float(row[k]))]
            if bad:
                self._stop(f"{', '.join(bad)} is not finite", s, row)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[-1]}
        self.logger.scalars(steps[-1], mean)
        self.logger.progress(steps[-1], {k: mean[k] for k in self.recipe.progress if k in mean})
        for m in self.monitors:
            m.flushed(steps[-1], list(zip(steps, rows, strict=True)))

    def _stop(self, what: str, step: int, row: dict):
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in row.items())
        where = (
            f"the last good checkpoint is step {self.last_good} in {self.ckpt.directory}"
            if self.last_good is not None
            else "no checkpoint was written yet"
        )
        raise NonFiniteLossError(f"{what} at step {step} ({shown}); stopping: {where}")


class BestCheckpoint:
    """``config.keep_best``: the checkpoint of the best validation score (``val_<name>``,
    higher is better) so far, kept in ``checkpoints.best/`` beside the run's own, as ReDO's
    original keeps ``best.pth``; its meta records the score (``load_run(best=True)``)."""

    def __init__(self, directory: Path, name: str, meta: dict):
        self.name, self.meta = name, meta
        self.ckpt = Checkpointer(directory, save_every=1, max_to_keep=1)
        latest = self.ckpt.latest_step()
        self.value = -math.inf if latest is None else self.ckpt.read_meta(latest)["best"]["value"]

    @classmethod
    def open(cls, workdir: Path, name: str | None, meta: dict) -> "BestCheckpoint | None":
        return cls(workdir / "checkpoints.best", name, meta) if name else None

    def reset(self) -> None:
        """A run started afresh: an earlier attempt's best moves to
        ``checkpoints.best.replaced/`` (kept, not deleted)."""
        self.ckpt.move_after(None, "replaced")
        self.value = -math.inf

    def offer(self, step: int, state: TrainState, val: dict) -> None:
        key = f"val_{self.name}"
        if key not in val:
            raise ValueError(f"config.keep_best={self.name!r}: no {key} among {sorted(val)}")
        if val[key] > self.value:
            self.value = val[key]
            best = {"name": key, "value": val[key], "step": step}
            self.ckpt.save(step, state, {}, {**self.meta, "best": best}, force=True)

    def close(self) -> None:
        self.ckpt.wait()
        self.ckpt.close()


def _local_rows(batch: dict) -> dict:
    """This process's rows of a global batch, as numpy (a host check of the data)."""
    return {k: np.concatenate([np.asarray(s.data) for s in v.addressable_shards])
            for k, v in batch.items()}  # fmt: skip


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
