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
