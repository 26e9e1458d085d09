"""Two CPU devices for every test, so multi-device code runs for real, and JAX's strict
rank promotion (as Equinox tests): an implicit broadcast of arrays of different ranks is
an error, so a shape bug fails here instead of broadcasting silently.

In-process tests compile with most of XLA's optimisations off
(``jax_disable_most_optimizations``): their programs are tiny and mostly run a few
times, so compiling dominates (GENESIS's tiny step compiled in 166 s at the default
level, 95 s without, on 2 loaded cores).  Tests marked ``optimised`` train or search for
many steps and compile at the default level, as users' runs and the launchers the tests
start do (all at level 0, the suite took longer: 5,534 s of test time against 5,384).

One BLAS thread per process (OpenBLAS, in numpy, scipy and scikit-learn): two workers
on two cores, or one beside a background job, each with two threads, spin against each
other: five logistic-regression probes took 0.7 s (2.2 s in a notebook kernel) with two
threads beside one background job, and 0.14 s with one.

No persistent compilation cache: executables reloaded from it aborted the
process in a resumed run on jax 0.10.2's CPU backend (seen here; not chased).
"""

import os
import sys
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # the launchers and notebook kernels tests start

import jax  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from ocg_jax.platform.xla_flags import set_cpu_threads

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # experiments/ is importable, as with `python -m`

jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_numpy_rank_promotion", "raise")
set_cpu_threads(2)  # else XLA:CPU's pools deadlock two devices on two cores (xla_flags.py)
threadpool_limits(1, user_api="blas")  # numpy was imported before this file


def pytest_runtest_setup(item):
    """Before the test's fixtures: XLA's optimisations on only for tests marked
    ``optimised`` (a module-scoped fixture compiles under its module's first test), in
    this process and in the launchers and notebook kernels the test starts."""
    quick = item.get_closest_marker("optimised") is None
    if jax.config.read("jax_disable_most_optimizations") and not quick:
        # the level is not part of jit's cache key: without this, a function an earlier
        # test compiled at level 0 runs at level 0 here (the feature net: 327 s, not 20)
        jax.clear_caches()
    jax.config.update("jax_disable_most_optimizations", quick)
    os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1" if quick else "0"


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
