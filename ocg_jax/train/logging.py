"""What a run writes: metrics.jsonl, TensorBoard events, PNG grids, a progress bar."""

import json
import math
from pathlib import Path

import numpy as np
from tensorboardX import SummaryWriter

from ocg_jax import viz
from ocg_jax.platform.progress import tqdm


def trim_metrics(path: Path, last_step: int) -> int:
    """Move the rows of ``path`` (metrics.jsonl) logged after ``last_step`` to
    ``metrics.discarded.jsonl`` beside it; returns how many moved.  A run resumed from the
    checkpoint at ``last_step`` logs those steps again, so the log then reads as one run."""
    if not path.exists():
        return 0
    keep, drop = [], []
    for line in path.read_text().splitlines():
        try:
            late = json.loads(line)["step"] > last_step
        except (ValueError, KeyError, TypeError):  # a line cut short by a crash
            late = True
        (drop if late else keep).append(line)
    if drop:
        with open(path.with_name("metrics.discarded.jsonl"), "a") as f:
            f.write("\n".join(drop) + "\n")
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        tmp.replace(path)
    return len(drop)


class RunLogger:
    """Writes scalars to ``metrics.jsonl`` and TensorBoard, images to ``images/`` and TB.

    Starting at ``initial_step`` (a resumed run), rows logged after it by an earlier
    process are moved aside (``trim_metrics``) and TensorBoard purges its later events."""

    def __init__(
        self, workdir: str | Path, *, total_steps: int, initial_step: int = 0, progress: bool = True
    ):
        self.workdir = Path(workdir)
        (self.workdir / "images").mkdir(parents=True, exist_ok=True)
        self.discarded = trim_metrics(self.workdir / "metrics.jsonl", initial_step)
        self._jsonl = open(self.workdir / "metrics.jsonl", "a")  # noqa: SIM115
        self._tb = SummaryWriter(str(self.workdir / "tensorboard"), purge_step=initial_step + 1)
        self._bar = tqdm(
            total=total_steps,
            initial=initial_step,
            disable=not progress,
            unit="step",
            dynamic_ncols=True,
        )

    def scalars(self, step: int, values: dict[str, float]) -> None:
        row = {"step": int(step), **{k: float(v) for k, v in values.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for k, v in values.items():
            if math.isfinite(float(v)):
                self._tb.add_scalar(k, float(v), step)

    def progress(self, step: int, values: dict[str, float]) -> None:
        """Move the bar to ``step`` and show ``values`` (the recipe's ``progress`` keys)."""
        self._bar.n = int(step)
        shown = {k: f"{float(v):.4g}" for k, v in values.items()}
        self._bar.set_postfix(shown, refresh=False)
        self._bar.refresh()

    def image(self, step: int, name: str, array: np.ndarray) -> Path:
        """Save ``array`` (uint8 ``[H, W, 3]``) as ``images/{name}_{step:07d}.png`` and to TB."""
        path = self.workdir / "images" / f"{name}_{int(step):07d}.png"
        viz.save_png(array, path)
        self._tb.add_image(name, array, step, dataformats="HWC")
        return path

    def close(self) -> None:
        self._bar.close()
        self._jsonl.close()
        self._tb.close()


class NullLogger:
    """``RunLogger``'s interface, writing nothing: the logger of processes other than 0."""

    def scalars(self, step: int, values: dict[str, float]) -> None:
        pass

    def progress(self, step: int, values: dict[str, float]) -> None:
        pass

    def image(self, step: int, name: str, array: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass
