"""The launchers as a new user meets them, through subprocess: a mistake is one line on
stderr and exit status 2, said within seconds, with nothing left behind and nothing in a
run changed; ``--help`` is no error."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = "experiments/configs"


def _launch(module: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OCG_JAX_TRACEBACK": ""}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> tuple[int, str, list[str]]:
    """``(status, stdout, the non-empty lines of stderr)``."""
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, [line for line in err.splitlines() if line.strip()]


def _one_line_error(proc: subprocess.Popen, *words: str) -> str:
    status, _, err = _finish(proc)
    assert status == 2 and len(err) == 1 and err[0].startswith("error: "), (status, err)
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


@pytest.mark.parametrize(
    "args, words",
    [
        ([f"--config={CONFIGS}/genesis_multi_dsprite.py:quick"], ["genesis_multi_dsprite.py"]),
        ([f"--config={CONFIGS}/genesis_multi_dsprites.py:quik"], ["quik", "quick"]),
        ([f"--config={CONFIGS}/air_multi_digits.py:quick", "--config.bach_size=2"], ["batch"]),
    ],
    ids=["misspelt file", "misspelt variant", "misspelt key"],
)
def test_a_misspelt_name_is_one_line_within_seconds(args, words, tmp_path):
    start = time.perf_counter()
    _one_line_error(_launch("experiments.train", *args, f"--workdir={tmp_path / 'run'}"), *words)
    assert time.perf_counter() - start < 5.0  # JAX is not even imported
    assert not (tmp_path / "run").exists()


#: per reader of the user's files: the launch that needs them
READERS = {
    "mnist": ["air_multi_digits.py:mnist,quick"],
    "flowers": ["redo_flowers.py"],
    "cub": ["redo_cub.py"],
    "lfw": ["redo_lfw.py"],
    "fashion_mnist": ["dd_fashion_mnist.py:quick"],
    "dsprites": ["dd_dsprites.py:quick", "--config.data.config=original"],
    "multi_object": [
        "genesis_tetrominoes.py:quick",
        "--config.data.name=multi_object",
        "--config.data.config=tetrominoes",
    ],  # fmt: skip
}


def test_missing_files_of_every_reader_name_the_folder_and_leave_nothing(tmp_path):
    empty = tmp_path / "my_files"
    empty.mkdir()
    procs = {}
    for name, (config, *more) in READERS.items():  # all at once: each mostly imports
        data = tmp_path / f"data_{name}"
        procs[name] = _launch(
            "experiments.train", f"--config={CONFIGS}/{config}", *more,
            f"--config.data.data_dir={data}", f"--config.data.manual_dir={empty}",
            f"--workdir={tmp_path / name}",
        )  # fmt: skip
    for name, proc in procs.items():
        line = _one_line_error(proc, str(empty))
        assert "Traceback" not in line
        data = tmp_path / f"data_{name}"
        left = [p for p in data.rglob("*") if p.is_file()] if data.exists() else []
        assert not left, (name, left)
        assert not (tmp_path / name).exists(), name
    assert not any(empty.iterdir())


def test_help_is_no_error():
    procs = [_launch(m, "--help") for m in ("experiments.train", "experiments.evaluate")]
    for proc in procs:
        status, out, _ = _finish(proc)
        assert status == 0 and "--workdir" in out


def _copy_run(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``run`` and a config file that gives its config (as a user's own)."""
    work = tmp_path / "run"
    shutil.copytree(run, work)
    config = tmp_path / "config_of_run.py"
    config.write_text(
        "import json\nimport ml_collections\n\n\ndef get_config():\n"
        f"    return ml_collections.ConfigDict(json.loads(open({str(work / 'config.json')!r})"
        ".read()))\n"
    )
    return work, config


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def test_a_complete_run_says_so_within_seconds(family_run, tmp_path):
    work, config = _copy_run(family_run("dc_vae")[0], tmp_path)
    before = _tree(work)
    start = time.perf_counter()
    status, out, err = _finish(_launch("experiments.train", f"--config={config}",
                                       f"--workdir={work}"))  # fmt: skip
    assert status == 0 and "already complete at step 4" in out, (out, err)
    assert time.perf_counter() - start < 5.0
    assert _tree(work) == before
    changed = "--config.optim.learning_rate=1.0"
    status, _, err = _finish(_launch("experiments.train", f"--config={config}",
                                     f"--workdir={work}", changed))  # fmt: skip
    assert status == 2 and len(err) == 1 and "optim.learning_rate: stored" in err[0], err
    assert _tree(work) == before


def test_evaluate_on_a_damaged_latest_checkpoint_falls_back_and_moves_nothing(family_run, tmp_path):
    work, _ = _copy_run(family_run("dc_vae")[0], tmp_path)
    latest = work / "checkpoints" / "4"
    victim = max((p for p in latest.rglob("*") if p.is_file() and p.suffix != ".json"),
                 key=lambda p: p.stat().st_size)  # fmt: skip
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    before = _tree(work)
    status, out, err = _finish(_launch(
        "experiments.evaluate", f"--workdir={work}", "--num_images=4", "--fd_images=0",
        "--split=validation", "--evaluators=scores",
    ))  # fmt: skip
    assert status == 0, err
    warning = [line for line in err if line.startswith("warning:")]
    assert len(warning) == 1 and "checkpoint 4" in warning[0] and "cut short" in warning[0]
    assert "left as it is" in warning[0] and "<bound method" not in warning[0]
    assert "step 2" in out
    after = _tree(work)
    assert {k: v for k, v in after.items() if k != "eval.json"} == before
    assert json.loads((work / "eval.json").read_text())["step"] == 2
