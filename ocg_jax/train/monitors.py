"""What the training loop calls for a family that watches its own failure modes.

A family names its monitors (``model.monitors``; the loop's ``MONITORS`` builds each from
the run's config and workdir), and the loop calls them at fixed points:

    seed = monitor.seed(config.seed)        # the seed of a fresh start (a restart: new ones)
    state = monitor.restored(state, step)   # after a checkpoint is restored
    monitor.flushed(step, rows)             # each flush of the logged metrics
    monitor.evaluated(step, metrics)        # after each validation (val_<name> means)

``flushed`` may raise ``RestartRun``: the loop then closes the run, calls its
``prepare`` (which sets the workdir up for the next attempt: checkpoints moved aside, a
record written) and starts again, as a rerun of the command would.
"""

from collections.abc import Callable


class RestartRun(Exception):  # noqa: N818 - a request, not an error
    """Start the run again once ``prepare()`` has run (the run's files closed)."""

    def __init__(self, message: str, prepare: Callable[[], str]):
        super().__init__(message)
        self.prepare = prepare  # returns one line on what the restart does


class Monitor:
    """A monitor that watches nothing: the defaults of every call."""

    def seed(self, seed: int) -> int:
        """The seed of a fresh start (model and data order)."""
        return seed

    def restored(self, state, step: int):
        """The state restored at ``step``, as the run continues from it."""
        return state

    def flushed(self, step: int, rows: list[tuple[int, dict]]) -> None:
        """``rows``: ``(step, {metric: float})`` of every step since the last flush."""

    def evaluated(self, step: int, metrics: dict[str, float]) -> None:
        """``metrics``: the validation means logged at ``step`` (``val_<score>``)."""
