"""Two processes on 127.0.0.1 (one CPU device each, collectives through gloo) train like one
process with two devices, and resume from their checkpoint."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
from helpers import params_close

from ocg_jax.analysis.runs import load_run

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(config: Path, workdir: Path, num_steps: int) -> None:
    """``experiments.train`` as two processes of one run; waits for both."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}", "OCG_JAX_NO_REEXEC": "1"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "experiments.train",
                f"--config={config}",
                f"--workdir={workdir}",
                f"--config.num_steps={num_steps}",
                f"--coordinator_address=127.0.0.1:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]


def test_two_processes_match_one_process_with_two_devices(family_run, tmp_path, data_dir):
    _, one_process = family_run("dc_vae")  # 4 steps, 2 devices, SGD (helpers.ENGINE_CONFIGS)
    config = tmp_path / "config.py"
    config.write_text(
        textwrap.dedent(
            f"""
            from helpers import engine_config

            def get_config():
                return engine_config("dc_vae", {data_dir!r})
            """
        )
    )
    work = tmp_path / "run"
    _launch(config, work, num_steps=2)
    _launch(config, work, num_steps=4)  # resumes from the step-2 checkpoint
    run = load_run(work)
    assert run.step == 4
    params_close(jax.device_get(run.state.params), jax.device_get(one_process.params), atol=1e-5)
    rows = [json.loads(r) for r in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]  # process 0 alone logs
    assert np.isfinite([r["loss"] for r in rows if "loss" in r]).all()
