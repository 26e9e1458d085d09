"""The fault matrix (docs/reliability.md): each row is a test here.

A tiny VAE (``test_toy_family``) stands in for every family: the faults are the engine's.
In-process runs check the behaviour; subprocesses check what a user sees (exit status,
lines on stderr) where the fault is a signal, a full disk or a killed generation.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_toy_family import ToyVAE, ToyVAENet, toy_config

from ocg_jax.data.pipeline import DamagedDataError, load_examples, load_source
from ocg_jax.models.registry import register
from ocg_jax.train.checkpoint import CheckpointMismatchError
from ocg_jax.train.lock import LOCK_FILE, WorkdirBusyError, WorkdirLock
from ocg_jax.train.loop import train_and_evaluate
from ocg_jax.train.resume import MANIFEST, ResumeConfigError

ROOT = Path(__file__).resolve().parents[1]
register("toy_vae", lambda options: ToyVAE(ToyVAENet(**options)))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """A 4-step toy run with checkpoints 2 and 4 (each test copies it)."""
    work = tmp_path_factory.mktemp("faults") / "run"
    train_and_evaluate(toy_config(data_dir), work, progress=False)
    return work


def _copy(finished, tmp_path) -> Path:
    work = tmp_path / "run"
    shutil.copytree(finished, work)
    return work


def _array_file(step_dir: Path) -> Path:
    return max((p for p in (step_dir / "state").rglob("*") if p.is_file()), key=os.path.getsize)


DAMAGE = {
    "truncated array file": lambda d: os.truncate(_array_file(d), 100),
    "random bytes in the metadata": lambda d: (d / "_CHECKPOINT_METADATA").write_bytes(
        np.random.default_rng(0).bytes(64)
    ),
    "missing metadata file": lambda d: (d / "state" / "_METADATA").unlink(),
    "empty step folder": lambda d: (shutil.rmtree(d), d.mkdir()),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupt_latest_checkpoint_falls_back_with_one_line(
    damage, finished, tmp_path, data_dir, capfd
):
    work = _copy(finished, tmp_path)
    assert (work / "checkpoints" / "4" / MANIFEST).exists()
    DAMAGE[damage](work / "checkpoints" / "4")
    config = toy_config(data_dir)
    config.num_steps = 6
    capfd.readouterr()
    state = train_and_evaluate(config, work, progress=True)
    err = capfd.readouterr().err
    lines = [x for x in err.splitlines() if x.strip() and "step/s" not in x and "it/s" not in x]
    assert int(state.step) == 6
    assert len(lines) <= 1 and "checkpoint 4 is unreadable" in " ".join(lines), err[-3000:]
    assert "Traceback" not in err and "Event loop" not in err
    moved = list((work / "checkpoints.unreadable").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith("4-")  # kept, not deleted


def test_evaluate_on_a_corrupt_latest_checkpoint_changes_nothing(finished, tmp_path):
    from ocg_jax.analysis.runs import load_run

    work = _copy(finished, tmp_path)
    DAMAGE["truncated array file"](work / "checkpoints" / "4")
    before = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    run = load_run(work)
    assert run.step == 2 and "checkpoint 4 is unreadable" in run.skipped[0]
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == before


def test_a_checkpoint_of_another_version_is_refused_naming_the_arrays(finished, tmp_path, data_dir):
    work = _copy(finished, tmp_path)
    register("toy_vae", lambda options: ToyVAE(ToyVAENet(**{**options, "latent": 6})))
    try:  # the same config, another network: what an upgrade that changed a layer gives
        with pytest.raises(CheckpointMismatchError, match="Dense_1/kernel: stored"):
            train_and_evaluate(toy_config(data_dir), work, progress=False)
    finally:
        register("toy_vae", lambda options: ToyVAE(ToyVAENet(**options)))
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["2", "4"]


def test_resume_with_a_changed_setting_lists_only_what_differs(finished, tmp_path, data_dir):
    work = _copy(finished, tmp_path)
    config = toy_config(data_dir)
    config.optim.learning_rate = 3e-3
    config.num_steps = 6  # may change
    with pytest.raises(ResumeConfigError) as e:
        train_and_evaluate(config, work, progress=False)
    message = str(e.value)
    assert "optim.learning_rate: stored 0.001, now 0.003" in message
    assert "num_steps:" not in message.split("On resume")[0] and "num_steps" in message
    config.optim.learning_rate = 1e-3
    assert int(train_and_evaluate(config, work, progress=False).step) == 6


def test_a_second_run_on_a_held_workdir_is_refused_and_a_dead_lock_taken_over(
    finished, tmp_path, data_dir, capsys
):
    work = _copy(finished, tmp_path)
    config = toy_config(data_dir)
    config.num_steps = 6
    with WorkdirLock(work), pytest.raises(WorkdirBusyError, match=f"process {os.getpid()} on"):
        train_and_evaluate(config, work, progress=False)
    (work / LOCK_FILE).write_text(json.dumps({"pid": 999999, "host": "elsewhere", "since": 0}))
    train_and_evaluate(config, work, progress=False)
    assert "taking over" in capsys.readouterr().err
    assert (work / LOCK_FILE).read_text() == ""  # released at the end


# -- what a user sees: subprocesses -----------------------------------------------------------
TRAIN = """
import resource, signal, sys
if {limit}:  # a small disk: writes past the limit fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
sys.path.insert(0, {tests!r})
from test_toy_family import ToyVAE, ToyVAENet, toy_config
from ocg_jax.models.registry import register
from ocg_jax.train.loop import Interrupted, train_and_evaluate
register("toy_vae", lambda options: ToyVAE(ToyVAENet(**options)))
config = toy_config({data_dir!r})
config.num_steps, config.checkpoint_every, config.eval_every = {steps}, {every}, 10**6
try:
    train_and_evaluate(config, {work!r}, progress=False)
except Interrupted as e:
    print(e, file=sys.stderr)
    sys.exit(128 + e.signum)
"""


def _train_process(work, data_dir, steps, every=1, limit=0) -> subprocess.Popen:
    code = TRAIN.format(tests=str(ROOT / "tests"), data_dir=data_dir, steps=steps, every=every,
                        work=str(work), limit=limit)  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _wait_for_step(work: Path, step: int, proc, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        log = work / "metrics.jsonl"
        rows = log.read_text().splitlines() if log.exists() else []
        if rows and json.loads(rows[-1]).get("step", 0) >= step:
            return
        time.sleep(0.2)
    raise AssertionError(f"no step {step} in time: {proc.stderr.read()[-2000:]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_a_checkpoint_then_stops_and_the_rerun_resumes(signum, tmp_path, data_dir):
    work = tmp_path / "run"
    proc = _train_process(work, data_dir, steps=10**6)  # a checkpoint every step: mid-write
    _wait_for_step(work, 3, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, err[-2000:]
    stopped = int(err.strip().splitlines()[-1].rsplit(" ", 1)[1])
    steps = sorted(int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == stopped and (work / "checkpoints" / str(stopped) / MANIFEST).exists()
    config = toy_config(data_dir)
    config.num_steps = stopped + 1
    assert int(train_and_evaluate(config, work, progress=False).step) == stopped + 1


def test_a_full_disk_during_a_checkpoint_keeps_the_last_complete_one(finished, tmp_path, data_dir):
    work = _copy(finished, tmp_path)
    limit = os.path.getsize(_array_file(work / "checkpoints" / "4")) // 2
    proc = _train_process(work, data_dir, steps=6, every=2, limit=limit)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode != 0, err[-2000:]
    assert {"2", "4"} <= {p.name for p in (work / "checkpoints").iterdir()}
    config = toy_config(data_dir)
    config.num_steps = 6
    assert int(train_and_evaluate(config, work, progress=False).step) == 6


# -- damaged data -----------------------------------------------------------------------------
def _dataset_copy(data_dir, tmp_path) -> tuple[str, Path]:
    load_source("multi_dsprites", "tiny_32px", "train", data_dir)  # generated once
    copy = tmp_path / "tfds"
    shutil.copytree(Path(data_dir) / "multi_dsprites", copy / "multi_dsprites")
    shard = next((copy / "multi_dsprites").rglob("*-train.array_record*"))
    return str(copy), shard


def test_a_cut_short_dataset_file_is_named_with_the_way_to_remake_it(tmp_path, data_dir):
    copy, shard = _dataset_copy(data_dir, tmp_path)
    os.truncate(shard, shard.stat().st_size // 2)
    with pytest.raises(DamagedDataError, match=f"{shard}.*rm -r") as e:
        load_source("multi_dsprites", "tiny_32px", "train", copy, prepare=False)
    assert "\n" not in str(e.value)


def test_damaged_bytes_in_a_dataset_file_are_named(tmp_path, data_dir):
    """Bytes flipped through the file (some land in padding, which no hash covers): found when
    the file is opened or when its examples are read, and named the same way."""
    copy, shard = _dataset_copy(data_dir, tmp_path)
    data = bytearray(shard.read_bytes())
    for i in range(64, 3 * len(data) // 4, 101):
        data[i] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DamagedDataError, match="multi_dsprites/tiny_32px.*is damaged.*rm -r"):
        source = load_source("multi_dsprites", "tiny_32px", "train", copy, prepare=False)
        load_examples(source, len(source))


GENERATE = """
import os, signal
from ocg_jax.data.builders.fg_bg import fg_bg_dataset_builder as fg_bg
from ocg_jax.data.pipeline import load_source
made = []
real = fg_bg.fg_bg_scene
def dies_midway(*args, **kwargs):
    made.append(1)
    if len(made) == 20:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
fg_bg.fg_bg_scene = dies_midway
load_source("fg_bg", "tiny_32", "train", {data_dir!r})
"""


def test_an_interrupted_generation_never_looks_complete(tmp_path):
    data_dir = str(tmp_path / "tfds")
    proc = subprocess.run([sys.executable, "-c", GENERATE.format(data_dir=data_dir)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_source("fg_bg", "tiny_32", "train", data_dir, prepare=False)
    assert len(load_source("fg_bg", "tiny_32", "train", data_dir)) > 0  # made anew
