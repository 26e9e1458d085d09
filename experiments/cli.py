"""What the launchers share: huge pages, config-key checks, one line for a user's error.

    if __name__ == "__main__":
        cli.run(main)

An error a user can fix (an unknown config key, a missing run or checkpoint, a bad
value) is printed as one line and the launcher exits with status 2; a traceback
means a bug.  ``OCG_JAX_TRACEBACK=1`` shows the traceback of every error.
"""

import difflib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

from absl import app, flags, logging

from ocg_jax.platform.hugepages import reexec_with_huge_pages

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "multi-process runs: host:port of process 0's coordinator"
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "multi-process runs: how many")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "multi-process runs: this one's index")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "call jax.distributed.initialize() even without the three flags above (SLURM, TPU pod "
    "slices and other clusters JAX detects give it their own settings)",
)

ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = (str(ROOT / "ocg_jax"), str(ROOT / "experiments"))
#: what our own code raises for bad input (raised elsewhere, the same types are bugs)
_USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FloatingPointError)


_HELP = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


class UsageError(Exception):
    """A launcher's input is wrong; its message says how."""


def _key_paths(cfg, prefix: str = "") -> list[str]:
    out = []
    for k, v in cfg.items():
        path = f"{prefix}{k}"
        out.append(path)
        if hasattr(v, "items"):
            out += _key_paths(v, f"{path}.")
    return out


def _load_config(spec: str):
    path, _, variant = spec.partition(":")
    if not Path(path).is_file():
        raise UsageError(f"config file {path!r} not found")
    module_spec = importlib.util.spec_from_file_location("_ocg_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    try:
        return module.get_config(variant) if variant else module.get_config()
    except ValueError as e:  # an unknown variant: the config names the known ones
        raise UsageError(str(e)) from None


def check_config(argv: list[str]) -> None:
    """Raise ``UsageError`` for a ``--config=FILE[:variant]`` that does not load (a missing
    file, an unknown variant) and for ``--config.KEY=...`` overrides whose key the config
    does not have, naming the close matches (absl and ml_collections would raise deep in
    flag parsing, with tracebacks)."""
    spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if spec is None:
        return
    config = _load_config(spec)
    keys = [a[len("--config.") :].split("=", 1)[0] for a in argv if a.startswith("--config.")]
    known = _key_paths(config)
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(f"unknown config key {key!r}{hint}")


def init_distributed() -> bool:
    """``jax.distributed.initialize`` with the flags given (unset ones left to JAX's cluster
    detection), when any of them is set or ``--distributed``; call it first in ``main``.
    Returns whether it initialised."""
    given = {
        "coordinator_address": _COORDINATOR.value,
        "num_processes": _NUM_PROCESSES.value,
        "process_id": _PROCESS_ID.value,
    }
    if not _DISTRIBUTED.value and all(v is None for v in given.values()):
        return False
    import jax

    jax.distributed.initialize(**{k: v for k, v in given.items() if v is not None})
    return True


def _raised_by_us(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_PACKAGES)


def run(main, *, huge_pages: bool = True) -> None:
    """``absl.app.run(main)`` with the checks above; re-executes with huge pages first when
    ``huge_pages`` (launchers that run XLA; see ``ocg_jax/platform/hugepages.py``)."""
    show = os.environ.get("OCG_JAX_TRACEBACK", "") not in ("", "0")
    try:
        check_config(sys.argv)  # before the re-exec: a mistake is said at once
        if huge_pages:
            reexec_with_huge_pages()
        app.run(_quiet(main))
    except SystemExit as e:  # absl ends --help with status 1; asking for help is no error
        asked = any(a in _HELP for a in sys.argv[1:])
        sys.exit(0 if asked and e.code == 1 else e.code)
    except UsageError as e:
        _fail(e)
    except _USER_ERRORS as e:
        if show or not _raised_by_us(e):
            raise
        _fail(e.args[0] if isinstance(e, KeyError) and e.args else e)


def _quiet(main):
    """``main`` with absl's log at WARNING unless ``--verbosity`` is given: JAX's backend
    probe and orbax's file operations log at INFO, noise to someone reading the output."""

    def quiet_main(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        return main(argv)

    return quiet_main


def _fail(message) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)
