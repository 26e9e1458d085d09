"""Two CPU devices for every test, so multi-device code runs for real.

No persistent compilation cache: executables reloaded from it aborted the
process in a resumed run on jax 0.10.2's CPU backend (seen here; not chased).
"""

import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # experiments/ is importable, as with `python -m`

jax.config.update("jax_num_cpu_devices", 2)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
    """A tfds data dir shared by the session's tests (datasets are generated once)."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_dir):
    """``(workdir, state)``: 4 uninterrupted steps of the shrunk GENESIS config on both
    devices, checkpoints at 2 and 4.  Shared; tests must not write into its images/."""
    from helpers import tiny_config

    from ocg_jax.train.loop import train_and_evaluate

    workdir = tmp_path_factory.mktemp("tiny_run")
    state = train_and_evaluate(tiny_config(data_dir=data_dir), workdir, progress=False)
    return workdir, state
