"""Open a finished (or running) training run: its config, model and checkpointed weights."""

import dataclasses
import json
from pathlib import Path

import ml_collections

from ocg_jax.models.base import Family, Variables
from ocg_jax.models.registry import get_model
from ocg_jax.train.checkpoint import Checkpointer
from ocg_jax.train.recipes import Recipe, build
from ocg_jax.train.sharding import make_mesh
from ocg_jax.train.state import abstract_train_state


@dataclasses.dataclass
class Run:
    workdir: Path
    config: ml_collections.ConfigDict
    model: Family
    recipe: Recipe
    variables: Variables  # {"params": ..., "batch_stats": ...}, ready for model.apply
    step: int
    state: object  # the restored TrainState (recipe.eval_step takes it)
    skipped: list[str] = dataclasses.field(default_factory=list)  # newer unreadable ones

    @property
    def data_dir(self) -> str | None:
        return self.config.data.data_dir or None


def load_run(workdir: str | Path, checkpoint_step: int | None = None, best: bool = False) -> Run:
    """The run in ``workdir`` at ``checkpoint_step`` (default: the latest readable
    checkpoint; the newer ones that are not are named in ``Run.skipped``).  Reads only:
    nothing in ``workdir`` changes.  ``best``: the checkpoint of the best validation score
    (``config.keep_best``) instead."""
    from ocg_jax.train.loop import run_meta  # the loop owns what a checkpoint's meta holds

    workdir = Path(workdir)
    if not (workdir / "config.json").exists():
        raise FileNotFoundError(f"{workdir} is not a run directory (no config.json)")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    model = get_model(config.model)
    recipe = build(model, config)
    folder = "checkpoints.best" if best else "checkpoints"
    if best and not (workdir / folder).is_dir():
        raise FileNotFoundError(
            f"{workdir} has no {folder}/: train with --config.keep_best=SCORE (ReDO: iou) to keep "
            "the checkpoint of the best validation score"
        )
    ckpt = Checkpointer(workdir / folder, save_every=1, read_only=True)
    try:
        steps = ckpt.all_steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {ckpt.directory}")
        if checkpoint_step is not None and checkpoint_step not in steps:
            raise ValueError(
                f"no checkpoint at step {checkpoint_step} in {ckpt.directory}; it has {steps}"
            )
        target = abstract_train_state(recipe, make_mesh())
        state, _ = ckpt.restore(target, run_meta(config), checkpoint_step)
    finally:
        ckpt.close()
    variables = {"params": state.params, **state.model_state}
    return Run(workdir, config, model, recipe, variables, int(state.step), state, ckpt.skipped)
