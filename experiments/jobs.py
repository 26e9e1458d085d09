"""Launcher commands run as subprocesses, a few at a time, each with a wall-time limit.

No flags are defined here, so tests and other launchers can import it (``experiments.seeds``
defines required ones).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

GRACE_S = 120.0  # after SIGINT: time to finish a checkpoint write before SIGTERM


def _spawn(command: list[str], log: Path, env: dict) -> subprocess.Popen:
    """``command`` with SIGINT at its default even where this process ignores it (a shell's
    background job, pytest-xdist's workers): exec keeps an ignored signal ignored, and the
    run would not stop at the limit, but resets a handled one to its default."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with open(log, "a") as f:
            return subprocess.Popen(command, stdout=f, stderr=f, env=env)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def shared_device_env(parallel: int, environ=os.environ) -> dict:
    """``environ`` for one of ``parallel`` JAX processes on one accelerator: each takes
    0.9 / parallel of its memory (JAX's default, 75% each, would leave the second one out of
    memory) unless the user set ``XLA_PYTHON_CLIENT_MEM_FRACTION`` or ``_PREALLOCATE``."""
    env = dict(environ)
    keys = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE")
    if parallel > 1 and not any(k in env for k in keys):
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / parallel:.3f}"
    return env


def run_jobs(jobs: list[tuple[list[str], Path]], parallel: int, limit: float | None) -> dict:
    """Run ``(command, log file)`` jobs, ``parallel`` at a time, output appended to the log,
    each with ``shared_device_env(parallel)``.
    A job still running ``limit`` seconds after its start gets SIGINT (a KeyboardInterrupt:
    checkpoints already written stay), and SIGTERM ``GRACE_S`` later.  Returns ``{log file:
    "done" | "stopped at the time limit" | "failed (exit N; see LOG)"}``."""
    waiting, running, ended = list(jobs), {}, {}
    env = shared_device_env(parallel)
    while waiting or running:
        while waiting and len(running) < parallel:
            command, log = waiting.pop(0)
            running[log] = (_spawn(command, log, env), time.time(), None)
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
