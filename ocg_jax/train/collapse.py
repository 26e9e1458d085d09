"""Collapse of a region-splitting model (ReDO: one region takes the whole image).

A family that names the ``collapse`` monitor (``model.monitors``) names the per-step
metrics to watch (``model.collapse_metrics``, region areas in [0, 1]); the loop calls
``CollapseWatch`` at each flush. ``config.collapse`` sets ``threshold``, ``window``
(steps), ``healthy``, ``restart``, ``from_scratch``, ``max_restarts``, ``drift`` and
``drift_steps``. A logged step is *bad* when a watched area is below ``threshold`` or
above ``1 - threshold``; ``window`` bad steps in a row are a collapse. The loop then
says so (log line, ``collapsed`` in metrics.jsonl) and, with ``restart``, starts again
with new randomness: from scratch (``from_scratch``, the default, as the original), or
else from the last *healthy* checkpoint, the last one written before the areas last left
``[healthy, 1 - healthy]``. A collapse is a steady drift, so a checkpoint taken on the
way down (an area just above the threshold) would only collapse again; every collapse we
have seen drifted from the first steps, so no checkpoint of such a run is healthy
(docs/redo.md). Checkpoints set aside move to ``checkpoints.collapsed/``;
``collapse.json`` in the run directory counts the restarts, and the restored state's rng
is folded with it.

An early rule, off by default (``drift`` 0): a run that starts from scratch is a
collapse at once if, by step ``drift_steps``, a watched area has moved more than
``drift`` from where it started (both as means over ``DRIFT_AVERAGE`` steps). On
``fg_bg`` at 32 px every run that collapsed had moved 0.10-0.15 by step 250, and the
runs that segmented had held within 0.05 (docs/redo.md), so it stops a doomed attempt
some 600 steps before the areas leave ``[threshold, 1 - threshold]``. Not in the
original.
"""

import functools
import json
from collections import deque
from pathlib import Path

import jax

from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.monitors import Monitor, RestartRun

DEFAULTS = {
    "threshold": 0.1,  # collapsed ReDO runs settle at 0.02-0.05 (docs/redo.md)
    "window": 1000,
    "healthy": 0.15,
    "restart": False,
    "from_scratch": True,  # every collapsed run we have seen drifted from step 0
    "max_restarts": 3,
    "drift": 0.0,  # off; :cpu uses 0.08 (see the module docstring)
    "drift_steps": 300,
}
DRIFT_AVERAGE = 20  # steps per mean: one batch's area is noisy


class CollapseError(RuntimeError):
    """A region collapsed at ``step``: its areas were bad from ``streak_start`` and outside
    the healthy band from ``drift_start`` (at or before it); ``early``: the drift rule."""

    def __init__(
        self, message: str, step: int, streak_start: int, drift_start: int, early: bool = False
    ):
        super().__init__(message)
        self.step, self.streak_start, self.drift_start = step, streak_start, drift_start
        self.early = early


def settings(config) -> dict | None:
    """``config.collapse`` with defaults, or None when the run does not watch for collapse."""
    block = config.get("collapse")
    if block is None:
        return None
    given = dict(block.to_dict() if hasattr(block, "to_dict") else block)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown config.collapse key(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **given}
    if not 0 <= out["threshold"] <= out["healthy"] < 0.5:
        raise ValueError(
            f"config.collapse needs 0 <= threshold <= healthy < 0.5, got threshold="
            f"{out['threshold']} and healthy={out['healthy']}"
        )
    if out["drift"] and not (0 < out["drift"] < 1 and out["drift_steps"] > 2 * DRIFT_AVERAGE):
        raise ValueError(
            f"config.collapse.drift must be 0 (off) or in (0, 1) with drift_steps > "
            f"{2 * DRIFT_AVERAGE}, got drift={out['drift']} and drift_steps={out['drift_steps']}"
        )
    return out


class CollapseMonitor:
    """Feed it each logged row (``check``); raises ``CollapseError`` on a collapse."""

    def __init__(
        self,
        names: tuple[str, ...],
        threshold: float,
        window: int,
        healthy: float,
        drift: float = 0.0,
        drift_steps: int = 0,
    ):
        self.names, self.threshold, self.window = tuple(names), threshold, window
        self.healthy, self.drift, self.drift_steps = healthy, drift, drift_steps
        self.streak_start: int | None = None
        self.drift_start: int | None = None  # first step of the current run outside the band
        self.first: deque = deque(maxlen=DRIFT_AVERAGE)  # the areas of the run's first steps
        self.last: deque = deque(maxlen=DRIFT_AVERAGE)

    def check(self, step: int, row: dict) -> None:
        areas = {k: float(row[k]) for k in self.names if k in row}
        if self.drift and step <= self.drift_steps:
            self._check_drift(step, areas)
        if all(self.healthy <= a <= 1 - self.healthy for a in areas.values()):
            self.drift_start = None
        elif self.drift_start is None:
            self.drift_start = step
        bad = {k: a for k, a in areas.items() if a < self.threshold or a > 1 - self.threshold}
        if not bad:
            self.streak_start = None
            return
        if self.streak_start is None:
            self.streak_start = step
        if step - self.streak_start + 1 >= self.window:
            shown = ", ".join(f"{k}={a:.3f}" for k, a in bad.items())
            raise CollapseError(
                f"collapse at step {step}: {shown} (outside [{self.threshold:g}, "
                f"{1 - self.threshold:g}]) since step {self.streak_start}",
                step,
                self.streak_start,
                min(s for s in (self.drift_start, self.streak_start) if s is not None),
            )

    def _check_drift(self, step: int, areas: dict) -> None:
        """The early rule: only for a run watched from its first step (not a resume)."""
        if step == 1:
            self.first.clear()
        elif not self.first:
            return
        (self.first if len(self.first) < DRIFT_AVERAGE else self.last).append(areas)
        if len(self.last) < DRIFT_AVERAGE:
            return
        mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)
        moved = {k: (mean(self.first, k), mean(self.last, k)) for k in areas}
        far = {k: ab for k, ab in moved.items() if abs(ab[1] - ab[0]) > self.drift}
        if far:
            shown = ", ".join(f"{k} {a:.3f} -> {b:.3f}" for k, (a, b) in far.items())
            raise CollapseError(
                f"collapse at step {step}: drifting ({shown}, more than {self.drift:g} "
                f"within {self.drift_steps} steps)",
                step,
                1,
                1,
                early=True,
            )


def record_path(workdir: Path) -> Path:
    return Path(workdir) / "collapse.json"


def read_record(workdir: Path) -> dict:
    """``{"restarts": [{"step", "streak_start", "drift_start", "resumed_from"}, ...]}`` (empty
    if none)."""
    path = record_path(workdir)
    return json.loads(path.read_text()) if path.exists() else {"restarts": []}


def write_record(workdir: Path, record: dict) -> None:
    if jax.process_index() == 0:
        record_path(workdir).write_text(json.dumps(record, indent=2))


def reseed(state, record: dict, restored_step: int | None):
    """The restored state with its rng folded by the restart count, when it was restored from
    the checkpoint the latest restart resumed from (later resumes keep their own rng)."""
    restarts = record.get("restarts", [])
    if not restarts or restarts[-1]["resumed_from"] != restored_step:
        return state
    return state.replace(rng=jax.random.fold_in(state.rng, 7919 * len(restarts)))


def summary(workdir: Path, areas: dict[str, float], config) -> dict:
    """What ``eval.json`` says about collapse (``result["collapse"]``): ``restarts`` made,
    ``flagged`` (the monitor found a collapse in the run as it stands, after its last
    restart, and it trained on) and ``collapsed`` (a mean area of the evaluated images in
    ``areas`` is outside ``[threshold, 1 - threshold]``)."""
    t = settings(config)["threshold"]
    path = Path(workdir) / "metrics.jsonl"
    rows = path.read_text().splitlines() if path.exists() else []
    return {
        "restarts": len(read_record(workdir)["restarts"]),
        "flagged": any("collapsed" in json.loads(row) for row in rows),
        "collapsed": any(not t <= a <= 1 - t for a in areas.values()),
        "threshold": t,
    }


class CollapseWatch(Monitor):
    """The ``collapse`` monitor: the rule above on each logged step; a restart when it fires
    (and ``restart`` allows one more), else a warning and training on."""

    def __init__(self, names, watch: dict, workdir: Path, log, say):
        self.watch, self.workdir, self.log, self.say = watch, workdir, log, say
        self.record = read_record(workdir)
        self.restarts = len(self.record["restarts"])
        rule = (watch[k] for k in ("threshold", "window", "healthy", "drift", "drift_steps"))
        self.monitor: CollapseMonitor | None = CollapseMonitor(names, *rule)

    @classmethod
    def create(cls, model, config, workdir: Path, *, log, say) -> "CollapseWatch | None":
        """None when the run does not watch (no ``config.collapse``, or nothing to watch)."""
        watch = settings(config)
        if watch is None or not model.collapse_metrics:
            return None
        return cls(tuple(model.collapse_metrics), watch, workdir, log, say)

    def seed(self, seed: int) -> int:
        return seed + 7919 * self.restarts  # a restart from scratch: new weights and data order

    def restored(self, state, step: int):
        return reseed(state, self.record, step)

    def flushed(self, step: int, rows) -> None:
        for s, row in rows:
            if self.monitor is None:
                return
            try:
                self.monitor.check(s, row)
            except CollapseError as e:
                self._collapsed(e)

    def _collapsed(self, e: CollapseError) -> None:
        self.log(e.step, {"collapsed": 1.0})
        self.say(f"warning: {e}")
        if self.watch["restart"] and self.restarts < self.watch["max_restarts"]:
            raise RestartRun(str(e), functools.partial(self._prepare_restart, e))
        why = (
            "config.collapse.restart is off"
            if not self.watch["restart"]
            else f"it restarted {self.restarts} times already (max_restarts)"
        )
        self.say(f"not restarting: {why}; training on")
        if e.early:
            self.monitor.drift = 0.0  # said once; the areas are still watched
        else:
            self.monitor = None  # said once

    def _prepare_restart(self, e: CollapseError) -> str:
        """Move aside every checkpoint (``from_scratch``) or those written since the areas
        began to drift, record the restart, and say so."""
        ckpt = Checkpointer(self.workdir / "checkpoints", save_every=1)
        before_drift = (s for s in ckpt.all_steps() if s < e.drift_start)
        healthy = None if self.watch["from_scratch"] else max(before_drift, default=None)
        moved = ckpt.move_after(healthy, "collapsed")
        ckpt.close()
        restart = {"step": e.step, "streak_start": e.streak_start, "drift_start": e.drift_start}
        self.record["restarts"].append({**restart, "resumed_from": healthy})
        write_record(self.workdir, self.record)
        where = f"checkpoint {healthy}" if healthy is not None else "scratch"
        return (
            f"restart {len(self.record['restarts'])} of {self.watch['max_restarts']}: from "
            f"{where} with new randomness ({len(moved)} later checkpoint(s) moved to "
            "checkpoints.collapsed/)"
        )
