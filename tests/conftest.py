"""Two CPU devices for every test, so multi-device code runs for real, and JAX's strict
rank promotion (as Equinox tests): an implicit broadcast of arrays of different ranks is
an error, so a shape bug fails here instead of broadcasting silently.

XLA compiles at its lowest optimisation level (``TEST_XLA_FLAGS``, for this process and the
launchers and notebook kernels it starts): the tests' programs are tiny and mostly
compiled once, and compiling took half the suite's time (GENESIS's step: 166 s at the
default level, 95 s at level 0, on 2 loaded cores).  Users' runs compile at XLA's default.

No persistent compilation cache: executables reloaded from it aborted the
process in a resumed run on jax 0.10.2's CPU backend (seen here; not chased).
"""

import os
import sys
from pathlib import Path

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import jax  # noqa: E402 - after XLA_FLAGS
import pytest  # noqa: E402

from ocg_jax.platform.xla_flags import set_cpu_threads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # experiments/ is importable, as with `python -m`

jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_numpy_rank_promotion", "raise")
set_cpu_threads(2)  # else XLA:CPU's pools deadlock two devices on two cores (xla_flags.py)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
    """A tfds data dir shared by the session's tests (datasets are generated once)."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def family_run(tmp_path_factory, data_dir):
    """``family_run(name) -> (workdir, state)``: 4 uninterrupted steps of the family's
    shrunk engine config (``helpers.engine_config``) on both devices, checkpoints at 2 and
    4; made once per session.  Tests must not write into its workdir."""
    from helpers import engine_config

    from ocg_jax.train.loop import train_and_evaluate

    runs = {}

    def run(name: str):
        if name not in runs:
            workdir = tmp_path_factory.mktemp(f"{name}_run")
            cfg = engine_config(name, data_dir)
            runs[name] = workdir, train_and_evaluate(cfg, workdir, progress=False)
        return runs[name]

    return run


@pytest.fixture(scope="session")
def tiny_run(family_run):
    """The GENESIS engine run (see ``family_run``)."""
    return family_run("genesis")
