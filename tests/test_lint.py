"""The house style (ruff lint and format, configured in pyproject.toml) holds."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args):
    assert RUFF, "ruff is a test dependency: pip install -e '.[test]'"
    res = subprocess.run(
        [RUFF, *args, "ocg_jax", "experiments", "tests", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
