"""One live run per workdir: ``run.lock`` in it, held with ``flock`` while the run trains.

The lock is the operating system's (``fcntl.flock``), so it goes when its process dies,
however it dies; the file keeps who held it last.  A second run on a held workdir is
refused with a line naming the holder; a file left by a dead run is taken over with a
warning.  In a multi-host run process 0 holds the run's one lock.
"""

import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "run.lock"


class WorkdirBusyError(ValueError):
    """Another live process trains in this workdir."""


class WorkdirLock:
    """``with WorkdirLock(workdir, say=print):`` holds the workdir for the block."""

    def __init__(self, workdir: str | Path, say=print):
        self.path = Path(workdir) / LOCK_FILE
        self.say = say
        self._file = None

    def __enter__(self) -> "WorkdirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(f)
            f.close()
            raise WorkdirBusyError(
                f"{self.path.parent} is in use by {holder}; wait for it to finish, stop it, "
                "or give another --workdir"
            ) from None
        previous = _describe(f, default=None)
        if previous is not None:
            self.say(
                f"warning: taking over {self.path} from {previous}, which is no longer running"
            )
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        )
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()  # a clean exit leaves no holder behind
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _describe(f, default="another process"):
    """``"process PID on HOST (since HH:MM)"`` from the lock file's contents."""
    f.seek(0)
    try:
        info = json.loads(f.read() or "null")
    except ValueError:
        info = None
    if not info:
        return default
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("since", 0)))
    return f"process {info.get('pid')} on {info.get('host')} (since {since})"
