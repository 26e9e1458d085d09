"""The performance tools (experiments/tools/): each runs and prints what it says; the PyTorch
comparisons only where torch is installed (it is not a dependency)."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_the_step_time_and_the_machine():
    cmd = [sys.executable, "-m", "experiments.tools.benchmark"]
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


def _run(args, timeout=600):
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]


def test_profile_parts_times_each_part_of_both_models():
    for model, part in (("genesis", "mask_decoder"), ("monet", "unet_one_step")):
        args = ["-m", "experiments.tools.profile_parts", f"--model={model}", "--batch_size=1",
                "--image_size=16"]  # fmt: skip
        (line,) = _run([*args, "--num_slots=2"])
        assert line["model"] == model and line[f"{part}_fwd_bwd_s"] > 0


def test_profile_step_lists_the_slowest_ops():
    (line,) = _run(["-m", "experiments.tools.profile_step",
                    "--config=experiments/configs/dc_vae_tetrominoes.py", "--batch_size=2",
                    "--steps=1", "--top=3"])  # fmt: skip
    assert line["wall_ms_per_step"] > 0 and len(line["top_ops"]) <= 3


def test_torch_reference_times_a_step():
    pytest.importorskip("torch", reason="the PyTorch comparisons need torch (not a dependency)")
    (line,) = _run(["experiments/tools/torch_reference.py", "--batch_size=2", "--steps=1",
                    "--warmup=0"])  # fmt: skip
    assert line["train_step_ms_median"] > 0 and line["num_params"] > 0


def test_torch_redo_parses_its_flags():
    pytest.importorskip("torch", reason="the PyTorch comparisons need torch (not a dependency)")
    res = subprocess.run([sys.executable, "experiments/tools/torch_redo.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0 and "--original" in res.stdout
