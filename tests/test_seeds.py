"""experiments.seeds: several seeds of one config trained side by side, evaluated, tabulated
(its subprocesses through experiments.jobs)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from experiments.jobs import run_jobs, shared_device_env

ROOT = Path(__file__).resolve().parents[1]


def test_runs_go_in_parallel_stop_at_the_time_limit_and_failures_are_named(tmp_path):
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    show = [sys.executable, "-c", "import os; print(os.environ['XLA_PYTHON_CLIENT_MEM_FRACTION'])"]
    fail = [sys.executable, "-c", "raise SystemExit(3)"]
    logs = [tmp_path / f"{i}.log" for i in range(4)]
    # launched as a shell's background job: SIGINT ignored, which the runs would inherit
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        start = time.time()
        ended = run_jobs(list(zip([sleep, sleep, show, fail], logs, strict=True)), 2, 3.0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.time() - start < 30  # both sleepers stopped by SIGINT together
    assert ended[logs[0]] == ended[logs[1]] == "stopped at the time limit"
    assert ended[logs[2]] == "done" and logs[2].read_text().strip() == "0.450"
    assert ended[logs[3]].startswith("failed (exit 3")


def test_parallel_runs_share_the_accelerators_memory_unless_told_otherwise():
    assert shared_device_env(3, {})["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.300"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in shared_device_env(1, {})
    mine = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert shared_device_env(3, mine) == mine


def test_two_seeds_train_at_once_and_get_a_row_each(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "experiments.seeds", "--seeds=0,1", "--parallel=2"]
    cmd += ["--config=experiments/configs/dd_pinwheel.py:quick", f"--out_dir={out}"]
    # a fresh data dir: the dataset must be built once, before the two runs start
    cmd += [f"--config.data.data_dir={tmp_path / 'tfds'}", "--config.num_steps=10"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads((out / "seeds.json").read_text()) == {"0": "done", "1": "done"}
    for seed in (0, 1):
        result = json.loads((out / f"seed_{seed}" / "eval.json").read_text())
        assert result["seed"] == seed and result["step"] == 10  # the override reached the run
    table = (out / "seeds.md").read_text()
    assert "| 0 | 10 |" in table and "| 1 | 10 |" in table and "| 0,1 |" in table


def test_a_bad_config_key_is_refused_before_anything_runs(tmp_path):
    cmd = [sys.executable, "-m", "experiments.seeds", f"--out_dir={tmp_path / 'runs'}"]
    cmd += ["--config=experiments/configs/dd_pinwheel.py:quick", "--config.num_stepz=10"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "num_steps" in res.stderr  # the close match is named
    assert not (tmp_path / "runs").exists()
