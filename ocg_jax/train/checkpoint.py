"""Orbax ``CheckpointManager`` over (train state, loader position, run metadata).

The metadata names the model and its config; restoring into a run of another
model raises a clear error instead of a tree-structure mismatch deep in orbax.
Each finished checkpoint gets a manifest (``ocg_manifest.json`` in its folder: every
file's size and CRC32C), checked before orbax reads a byte, so a truncated or damaged
file, a missing one or an empty folder is found without a failed read left pending.
A checkpoint that cannot be read is skipped with one line saying why, and the next older
one restored; training moves the unreadable one aside to ``<directory>.unreadable/``
(``read_only``: nothing is moved, as ``evaluate`` needs).  Nothing is deleted.
"""

import logging
import shutil
import time
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from ocg_jax.train.resume import MANIFEST, check_files, differences, write_manifest
from ocg_jax.train.state import TrainState


class CheckpointMismatchError(ValueError):
    """The workdir holds a checkpoint of a different model or configuration."""


class UnreadableCheckpointError(FileNotFoundError):
    """No checkpoint in the directory could be read."""


class Checkpointer:
    """Saves every ``save_every`` steps (and when forced); keeps ``max_to_keep``;
    ``read_only``: restores only (nothing written or moved)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        save_every: int,
        max_to_keep: int = 3,
        read_only: bool = False,
    ):
        self.directory = Path(directory).absolute()
        self.save_every = save_every
        self.max_to_keep = max_to_keep
        self.read_only = read_only
        self.skipped: list[str] = []  # what restore() found unreadable, one line each
        self.restored_step: int | None = None
        self._mngr = self._manager()

    def _manager(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(
            max_to_keep=None if self.read_only else self.max_to_keep,
            save_interval_steps=0 if self.read_only else 1,
            create=not self.read_only,
            read_only=self.read_only,
        )
        absl = logging.getLogger("absl")
        level = absl.level
        if self.read_only:  # orbax warns that a read-only manager is read-only
            absl.setLevel(logging.ERROR)
        try:
            return ocp.CheckpointManager(
                self.directory,
                options=options,
                item_handlers={  # handlers up front: item_metadata reads the stored shapes
                    "state": ocp.StandardCheckpointHandler(),
                    "loader": ocp.JsonCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler(),
                },
            )
        finally:
            absl.setLevel(level)

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._mngr.all_steps())

    def should_save(self, step: int) -> bool:
        # orbax's own rule also saves the first step of a run; we want multiples only
        return step % self.save_every == 0

    def _finish_manifests(self) -> None:
        """Manifests for the finished checkpoints that have none (process 0 writes)."""
        self._mngr.wait_until_finished()
        if jax.process_index() != 0 or self.read_only:
            return
        for step in self._mngr.all_steps():
            step_dir = self.directory / str(step)
            if step_dir.is_dir() and not (step_dir / MANIFEST).exists():
                write_manifest(step_dir)

    def save(
        self, step: int, state: TrainState, loader_state: dict, meta: dict, force: bool = False
    ) -> bool:
        self._finish_manifests()
        return self._mngr.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                loader=ocp.args.JsonSave(loader_state),
                meta=ocp.args.JsonSave(meta),
            ),
            force=force,
        )

    def read_meta(self, step: int | None = None) -> dict:
        step = self.latest_step() if step is None else step
        return self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
            "meta"
        ]

    def restore(self, target: TrainState, meta: dict, step: int | None = None):
        """``(state, loader_state)`` at ``step``, shaped like ``target``.

        Without ``step``: the newest readable checkpoint; unreadable newer ones are named in
        ``self.skipped`` (and, unless ``read_only``, moved to ``<directory>.unreadable/``).
        Raises ``CheckpointMismatchError`` if the stored model/config differ from ``meta``,
        and ``UnreadableCheckpointError`` if no checkpoint can be read.
        """
        steps = self.all_steps() if step is None else [step]
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        for s in reversed(steps):
            why = check_files(self.directory / str(s))
            if why is None:
                try:
                    out = self._restore(target, meta, s)
                    self.restored_step = s
                    return out
                except CheckpointMismatchError:
                    raise
                except Exception as e:  # noqa: BLE001 - any failure to read: the one before
                    why = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
            self._skip(s, why)
        raise UnreadableCheckpointError(
            f"no readable checkpoint in {self.directory}: "
            + "; ".join(self.skipped)
            + ". Start afresh in a new --workdir (nothing was deleted)"
        )

    def _skip(self, step: int, why: str) -> None:
        if self.read_only:
            self.skipped.append(f"checkpoint {step} is unreadable ({why}); left as it is")
            return
        moved = self._move_aside(step)
        self.skipped.append(f"checkpoint {step} is unreadable ({why}); moved it to {moved}")

    def _move_aside(self, step: int, suffix: str = "unreadable") -> Path:
        """Move checkpoint ``step`` out of orbax's sight to ``<directory>.<suffix>/`` (never
        delete it); returns where."""
        self._mngr.close()
        aside = self.directory.parent / f"{self.directory.name}.{suffix}"
        dest = aside / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        if jax.process_index() == 0:  # one process moves; the others wait for it
            aside.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.directory / str(step)), str(dest))
        multihost_utils.sync_global_devices(f"ocg_jax: checkpoint {step} moved aside")
        self._mngr = self._manager()
        return dest

    def move_after(self, step: int | None, suffix: str) -> list[Path]:
        """Move every checkpoint after ``step`` (all of them for None) to
        ``<directory>.<suffix>/``; returns where they went."""
        late = [s for s in self.all_steps() if step is None or s > step]
        return [self._move_aside(s, suffix) for s in late]

    def _restore(self, target: TrainState, meta: dict, step: int):
        stored = self.read_meta(step)
        stored.pop("best", None)  # a best checkpoint's score (loop.BestCheckpoint), not the model
        diff = differences(stored, meta)
        if diff:
            raise CheckpointMismatchError(
                f"{self.directory} holds a checkpoint of another model: "
                + "; ".join(diff[:6])
                + (f" (and {len(diff) - 6} more)" if len(diff) > 6 else "")
                + "; use a fresh --workdir"
            )
        self._check_shapes(step, target)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        out = self._mngr.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), loader=ocp.args.JsonRestore()
            ),
        )
        return out["state"], out["loader"]

    def _check_shapes(self, step: int, target: TrainState) -> None:
        """Raise ``CheckpointMismatchError`` naming the arrays whose stored shape differs from
        ``target``'s (a checkpoint written by an older version of the same model)."""
        stored = _shapes(self._mngr.item_metadata(step)["state"])
        wanted = _shapes(target)
        diff = [
            f"{k}: stored {stored[k]}, model {v}"
            for k, v in wanted.items()
            if k in stored and stored[k] != v
        ]
        missing = [k for k in wanted if k not in stored]
        if diff or missing:
            lines = diff[:3] + [f"{k}: not in the checkpoint" for k in missing[:3]]
            raise CheckpointMismatchError(
                f"{self.directory} at step {step} does not fit this model "
                f"({len(diff)} shape mismatches, {len(missing)} arrays missing), e.g. "
                + "; ".join(lines)
                + ". It was probably written by another version of ocg_jax; use a fresh --workdir"
            )

    def wait(self) -> None:
        """Wait for the last save, then give finished checkpoints their manifests."""
        self._finish_manifests()

    def close(self) -> None:
        self._mngr.close()


def _shapes(tree) -> dict[str, tuple[int, ...]]:
    """``'params/mask_decoder/.../kernel' -> shape`` for every array-like leaf."""
    return {
        jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
        if hasattr(leaf, "shape")
    }
