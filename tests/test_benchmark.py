"""The benchmark launcher prints one JSON line with the step time and the machine it ran on."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_the_step_time_and_the_machine():
    cmd = [sys.executable, "-m", "experiments.benchmark"]
    cmd += ["--config=experiments/configs/dc_vae_tetrominoes.py", "--batch_size=2"]
    cmd += ["--steps=3", "--warmup=1"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, res.stdout
    line = json.loads(lines[0])
    assert line["model"] == "dc_vae" and line["batch_size"] == 2 and line["devices"] >= 1
    assert 0 < line["train_step_ms_min"] <= line["train_step_ms_median"]
    assert line["images_per_s"] == pytest.approx(2000 / line["train_step_ms_median"], rel=1e-2)
    assert line["cpu"] and line["cores"] >= 1 and line["matmul_gflops"] > 0
    assert line["backend"] == jax.default_backend()
