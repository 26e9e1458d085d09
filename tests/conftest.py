"""Two CPU devices for every test (multi-device code runs for real) and a
persistent compilation cache so identical programs compile once per session."""

import os
import sys
import tempfile
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # experiments/ is importable, as with `python -m`

jax.config.update("jax_num_cpu_devices", 2)
jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("OCG_TEST_JAX_CACHE", str(Path(tempfile.gettempdir()) / "ocg_jax_test_cache")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> str:
    """A tfds data dir shared by the session's tests (datasets are generated once)."""
    return str(tmp_path_factory.mktemp("tfds"))
