"""Launcher commands run as subprocesses, a few at a time, each with a wall-time limit.

No flags are defined here, so tests and other launchers can import it (``experiments.seeds``
defines required ones).
"""

import signal
import subprocess
import time
from pathlib import Path

GRACE_S = 120.0  # after SIGINT: time to finish a checkpoint write before SIGTERM


def _default_sigint() -> None:
    # a shell's background job (``cmd &``) and pytest-xdist's workers ignore SIGINT, and the
    # child would inherit that; it must stop on the limit's SIGINT as from a terminal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_jobs(jobs: list[tuple[list[str], Path]], parallel: int, limit: float | None) -> dict:
    """Run ``(command, log file)`` jobs, ``parallel`` at a time, output appended to the log.
    A job still running ``limit`` seconds after its start gets SIGINT (a KeyboardInterrupt:
    checkpoints already written stay), and SIGTERM ``GRACE_S`` later.  Returns ``{log file:
    "done" | "stopped at the time limit" | "failed (exit N; see LOG)"}``."""
    waiting, running, ended = list(jobs), {}, {}
    while waiting or running:
        while waiting and len(running) < parallel:
            command, log = waiting.pop(0)
            with open(log, "a") as f:
                proc = subprocess.Popen(command, stdout=f, stderr=f, preexec_fn=_default_sigint)
            running[log] = (proc, time.time(), None)
        time.sleep(0.5)
        for log, (proc, start, stopped_at) in list(running.items()):
            rc = proc.poll()
            if rc is not None:
                del running[log]
                if stopped_at is not None:
                    ended[log] = "stopped at the time limit"
                else:
                    ended[log] = "done" if rc == 0 else f"failed (exit {rc}; see {log})"
            elif stopped_at is None and limit is not None and time.time() - start > limit:
                proc.send_signal(signal.SIGINT)
                running[log] = (proc, start, time.time())
            elif stopped_at is not None and time.time() - stopped_at > GRACE_S:
                proc.terminate()
    return ended
