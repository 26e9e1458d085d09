"""Collapse of a region-splitting model (ReDO: one region takes the whole image).

A family that names the ``collapse`` monitor (``model.monitors``) names the per-step
metrics to watch (``model.collapse_metrics``: region areas in [0, 1], soft, on the
training batch); the loop calls ``CollapseWatch`` at each flush and after each
validation.  ``config.collapse`` chooses the rule:

* ``original`` (the default), as ReDO's code with ``--autoRestart``: every
  ``check_every`` steps the smallest soft region area of the step's training batch and
  of the validation batch are compared with ``threshold``; both below it is a collapse.
  A collapse at step ``restart_before`` or earlier starts the run again from scratch
  (new weights and data order); a later one is reported and the run trains on.
* ``streak``: ``window`` logged steps in a row with an area outside ``[threshold,
  1 - threshold]`` are a collapse; the restart goes back to scratch (``from_scratch``)
  or to the last checkpoint written before the areas left ``[healthy, 1 - healthy]``.

A collapse is logged (``collapsed`` in metrics.jsonl) and said; with ``restart``, and
fewer than ``max_restarts`` restarts so far, the run starts again.  Checkpoints set
aside move to ``checkpoints.collapsed/``; ``collapse.json`` in the run directory records
each restart, and the restored state's rng is folded with their count.
"""

import functools
import json
from pathlib import Path

import jax

from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.monitors import Monitor, RestartRun

RULES = ("original", "streak")
DEFAULTS = {
    "rule": "original",
    "threshold": 0.1,  # the original's README suggests --autoRestart .1
    "check_every": 500,  # the original's checkpointFreq
    "restart_before": 7000,  # the original restarts only up to iteration 7,000
    "window": 1000,  # streak
    "healthy": 0.15,  # streak
    "restart": True,
    "from_scratch": True,
    "max_restarts": 10,
}
LEGACY = ("drift", "drift_steps")  # an early rule runs once had; read, not used


class CollapseError(RuntimeError):
    """A region collapsed at ``step``: its areas were bad from ``streak_start`` and outside
    the healthy band from ``drift_start`` (at or before it)."""

    def __init__(self, message: str, step: int, streak_start: int, drift_start: int):
        super().__init__(message)
        self.step, self.streak_start, self.drift_start = step, streak_start, drift_start


def settings(config) -> dict | None:
    """``config.collapse`` with defaults, or None when the run does not watch for collapse."""
    block = config.get("collapse")
    if block is None:
        return None
    given = dict(block.to_dict() if hasattr(block, "to_dict") else block)
    unknown = sorted(set(given) - set(DEFAULTS) - set(LEGACY))
    if unknown:
        raise ValueError(f"unknown config.collapse key(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **{k: v for k, v in given.items() if k not in LEGACY}}
    if out["rule"] not in RULES:
        raise ValueError(f"config.collapse.rule must be one of {RULES}, got {out['rule']!r}")
    if not 0 <= out["threshold"] <= out["healthy"] < 0.5:
        raise ValueError(
            f"config.collapse needs 0 <= threshold <= healthy < 0.5, got threshold="
            f"{out['threshold']} and healthy={out['healthy']}"
        )
    return out


class StreakMonitor:
    """The ``streak`` rule: feed it each logged row (``check``); raises ``CollapseError``."""

    def __init__(self, names: tuple[str, ...], threshold: float, window: int, healthy: float):
        self.names, self.threshold, self.window, self.healthy = names, threshold, window, healthy
        self.streak_start: int | None = None
        self.drift_start: int | None = None  # first step of the current run outside the band

    def check(self, step: int, row: dict) -> None:
        areas = {k: float(row[k]) for k in self.names if k in row}
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


def original_check(step: int, train: dict, val: dict, names, threshold: float) -> None:
    """The original's rule at a check step: raise ``CollapseError`` when the smallest region
    area is below ``threshold`` on both the training batch (``train``) and the validation
    batch (``val``, ``val_<name>``)."""
    small_train = min(float(train[k]) for k in names)
    small_val = min(float(val[f"val_{k}"]) for k in names)
    if small_train < threshold and small_val < threshold:
        raise CollapseError(
            f"collapse at step {step}: the smallest region covers {small_train:.3f} of a "
            f"training batch and {small_val:.3f} of the validation batch (< {threshold:g})",
            step,
            step,
            step,
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
    """The ``collapse`` monitor: the configured rule; a restart when it fires and the rule
    and ``max_restarts`` allow one, else a warning and training on."""

    def __init__(self, names, watch: dict, workdir: Path, log, say):
        self.names, self.watch, self.workdir, self.log, self.say = names, watch, workdir, log, say
        self.record = read_record(workdir)
        self.restarts = len(self.record["restarts"])
        self.watching = True
        self.streak = StreakMonitor(names, watch["threshold"], watch["window"], watch["healthy"])
        self.train_rows: dict[int, dict] = {}  # the original rule: check steps' training rows

    @classmethod
    def create(cls, model, config, workdir: Path, *, log, say) -> "CollapseWatch | None":
        """None when the run does not watch (no ``config.collapse``, or nothing to watch)."""
        watch = settings(config)
        if watch is None or not model.collapse_metrics:
            return None
        if watch["rule"] == "original" and watch["check_every"] % config.eval_every:
            raise ValueError(
                f"config.collapse.check_every ({watch['check_every']}) must be a multiple of "
                f"config.eval_every ({config.eval_every}): the rule reads the validation areas"
            )
        return cls(tuple(model.collapse_metrics), watch, workdir, log, say)

    def seed(self, seed: int) -> int:
        return seed + 7919 * self.restarts  # a restart from scratch: new weights and data order

    def restored(self, state, step: int):
        return reseed(state, self.record, step)

    def flushed(self, step: int, rows) -> None:
        for s, row in rows:
            if not self.watching:
                return
            if self.watch["rule"] == "original":
                if s % self.watch["check_every"] == 0:
                    self.train_rows[s] = row
                continue
            try:
                self.streak.check(s, row)
            except CollapseError as e:
                self._collapsed(e, may_restart=True)

    def evaluated(self, step: int, metrics: dict) -> None:
        row = self.train_rows.pop(step, None)
        if not self.watching or row is None:
            return
        try:
            original_check(step, row, metrics, self.names, self.watch["threshold"])
        except CollapseError as e:
            self._collapsed(e, may_restart=step <= self.watch["restart_before"])

    def _collapsed(self, e: CollapseError, may_restart: bool) -> None:
        self.log(e.step, {"collapsed": 1.0})
        self.say(f"warning: {e}")
        w = self.watch
        if w["restart"] and may_restart and self.restarts < w["max_restarts"]:
            raise RestartRun(str(e), functools.partial(self._prepare_restart, e))
        if not w["restart"]:
            why = "config.collapse.restart is off"
        elif not may_restart:
            why = f"it is past step {w['restart_before']} (config.collapse.restart_before)"
        else:
            why = f"it restarted {self.restarts} times already (max_restarts)"
        self.say(f"not restarting: {why}; training on")
        self.watching = False  # said once

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
