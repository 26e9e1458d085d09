"""The engine end to end on a shrunk real config: files, compile-once, devices, resume, errors."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import engine_config, params_close, run_steps, tiny_config, updates_close

from ocg_jax.models.registry import get_model
from ocg_jax.train.checkpoint import Checkpointer, CheckpointMismatchError
from ocg_jax.train.loop import NonFiniteLossError, train_and_evaluate
from ocg_jax.train.resume import ResumeConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def full_run(tiny_run):
    """4 uninterrupted steps on both devices (the session's shared run)."""
    return tiny_run


def test_run_writes_everything(full_run):
    workdir, state = full_run
    assert int(state.step) == 4
    cfg = json.loads((workdir / "config.json").read_text())
    assert cfg["model"]["name"] == "genesis"
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    for key in ("loss", "nll", "kl_m", "kl_c", "beta"):
        assert all(np.isfinite(r[key]) for r in train_rows), key
    eval_rows = [r for r in rows if "val_ari_fg" in r]
    last = eval_rows[-1] if eval_rows else {}
    assert eval_rows and -1 <= last["val_ari_fg"] <= 1 and 0 <= last["val_msc_fg"] <= 1
    assert train_rows[1]["beta"] < 1.0  # GECO moved beta (reconstruction worse than the goal)
    pngs = sorted(p.name for p in (workdir / "images").glob("*.png"))
    assert pngs == [
        f"{kind}_{s:07d}.png" for kind in ("reconstructions", "samples") for s in (1, 4)
    ]
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [2, 4]


FAMILIES = ("genesis", "monet", "dc_vae", "bd_vae")


@pytest.mark.parametrize("name", FAMILIES)
def test_resume_matches_uninterrupted_run(name, family_run, tmp_path, data_dir):
    _, full_state = family_run(name)
    cfg = engine_config(name, data_dir)
    cfg.num_steps = 2
    train_and_evaluate(cfg, tmp_path, progress=False)
    cfg.num_steps = 4
    resumed = train_and_evaluate(cfg, tmp_path, progress=False)
    assert int(resumed.step) == 4
    params_close(resumed.params, full_state.params, atol=1e-6)
    params_close(resumed.opt_state, full_state.opt_state, atol=1e-6)
    params_close(resumed.model_state, full_state.model_state, atol=1e-6)


def test_checkpoint_of_another_model_is_refused(full_run, data_dir):
    workdir, _ = full_run
    cfg = tiny_config("genesis_s_multi_dsprites", data_dir=data_dir)
    cfg.num_steps = 6
    with pytest.raises(ResumeConfigError, match="model.name: stored 'genesis', now 'genesis_s'"):
        train_and_evaluate(cfg, workdir, progress=False)
    before = (workdir / "config.json").read_text()
    (workdir / "config.json").unlink()  # without the config the checkpoint itself refuses
    try:
        with pytest.raises(CheckpointMismatchError, match="genesis"):
            train_and_evaluate(cfg, workdir, progress=False)
    finally:
        (workdir / "config.json").write_text(before)


def test_checkpoint_of_another_version_names_the_arrays_that_differ(tmp_path):
    # same model and config, but a layer whose parameters changed shape between versions
    meta = {"model": "genesis", "model_config": {}}
    ckpt = Checkpointer(tmp_path, save_every=1)
    state = {"params": {"dense": {"kernel": np.zeros((3, 3), np.float32)}, "b": np.ones(2)}}
    ckpt.save(1, state, {"epoch": 0}, meta, force=True)
    ckpt.wait()
    restored, _ = ckpt.restore(state, meta)
    np.testing.assert_array_equal(restored["params"]["b"], state["params"]["b"])
    target = {"params": {"dense": {"kernel": np.zeros((5, 5), np.float32)}, "b": np.ones(2)}}
    with pytest.raises(CheckpointMismatchError, match=r"params/dense/kernel: stored \(3, 3\)"):
        ckpt.restore(target, meta)
    ckpt.close()


def test_nan_stops_the_run_before_it_is_logged_or_saved(tmp_path, data_dir, monkeypatch):
    from ocg_jax.train import loop

    cfg = engine_config("dc_vae", data_dir)  # the check is the loop's; the cheapest family
    cfg.optim.learning_rate = float("nan")
    cfg.checkpoint_every = 100
    cfg.eval_every = 100
    # step 1's loss is finite (computed before the update); its update is not, which the
    # check before step 1's evaluation catches: no NaN validation row is written
    with pytest.raises(NonFiniteLossError, match="step 1 .*no checkpoint was written yet"):
        train_and_evaluate(cfg, tmp_path / "early", progress=False)
    rows = [json.loads(r) for r in (tmp_path / "early" / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(np.isfinite(v) for r in rows for v in r.values())
    cfg.learning_rate = None
    cfg.optim.learning_rate = 1e-5
    cfg.num_steps, cfg.checkpoint_every = 2, 2
    train_and_evaluate(cfg, tmp_path / "later", progress=False)
    cfg.optim.learning_rate = float("nan")
    cfg.num_steps = 4
    monkeypatch.setattr(loop, "check_resumable", lambda *a: None)  # the rate may not change
    with pytest.raises(NonFiniteLossError, match="last good checkpoint is step 2"):
        train_and_evaluate(cfg, tmp_path / "later", progress=False)
    assert not (tmp_path / "later" / "checkpoints" / "4").exists()


def test_resume_survives_a_crash_and_an_unreadable_checkpoint(family_run, tmp_path, data_dir):
    """What kill -9 and a damaged disk leave: rows logged after the last checkpoint, and a
    latest checkpoint that cannot be read.  The run resumes from the newest readable one,
    its log reads as one run, and nothing is deleted."""
    import shutil

    from ocg_jax.train.logging import trim_metrics

    full, full_state = family_run("dc_vae")
    work = tmp_path / "run"
    shutil.copytree(full, work)
    for f in (work / "checkpoints" / "4").rglob("*"):  # the step-4 checkpoint, damaged
        if f.is_file() and f.stat().st_size > 0 and "meta" not in str(f):
            f.write_bytes(b"\0" * f.stat().st_size)
    cfg = engine_config("dc_vae", data_dir)
    resumed = train_and_evaluate(cfg, work, progress=False)
    params_close(resumed.params, full_state.params, atol=0)  # steps 3-4 again, identically
    aside = list((tmp_path / "run" / "checkpoints.unreadable").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith("4-") and any(aside[0].rglob("*"))
    rows = [json.loads(r) for r in (work / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if "loss" in r]
    assert train_steps == [1, 2, 3, 4]  # not 1, 2, 3, 4, 3, 4
    discarded = (work / "metrics.discarded.jsonl").read_text().splitlines()
    assert {json.loads(r)["step"] for r in discarded} == {3, 4}
    # a row cut short by the crash is moved aside too
    (work / "metrics.jsonl").write_text((work / "metrics.jsonl").read_text() + '{"step": 5, "lo')
    assert trim_metrics(work / "metrics.jsonl", 4) == 1


@pytest.mark.parametrize("name", FAMILIES)
def test_step_compiles_once_and_devices_agree(name, family_run, data_dir):
    """Same global batches on 1 device (compiled once) and on 2 (the shared run, SGD: see
    ``helpers.ENGINE_CONFIGS``): the same losses over 4 steps, and the same first update,
    optimiser state and batch statistics."""
    workdir, two = family_run(name)
    assert len(jax.tree.leaves(two.params)[0].sharding.device_set) == 2
    cfg = engine_config(name, data_dir)
    one, losses_one = run_steps(cfg, jax.devices()[:1], 4)
    rows = [json.loads(r) for r in (workdir / "metrics.jsonl").read_text().splitlines()]
    # a loss is a float32 sum of ~3k pixel terms per image, reduced in another order over
    # the devices: |difference| <~ sqrt(n) * 6e-8 of it (3e-6); later steps add the
    # parameters' difference, which an lr of 1e-5 keeps far smaller
    np.testing.assert_allclose(losses_one, [r["loss"] for r in rows if "loss" in r], rtol=2e-5)
    # the first update from the same parameters (later ones also carry the model's own
    # amplification of earlier differences: MONet's instance norms over 4x4 maps grew a
    # 1e-6 difference to 1e-2 in 3 steps for one seed).  SGD's update is lr * g; a gradient
    # entry sums ~4k (batch x pixels) float32 terms, in another order: at most n * 6e-8 =
    # 2.5e-4 of the terms' scale, which the array's largest update bounds (seen over 6 seeds
    # per family: <= 1.1e-4, typically 1e-6); 1e-3 of it, plus a float32 ulp of |p|
    first, _ = run_steps(cfg, jax.devices(), 1)
    updates_close(one[0].params, one[1].params, first[1].params, rtol=1e-3, steps=1)
    # GECO's beta and error average (NLL-driven, as the losses) and batch-norm statistics
    # (means over ~4k values)
    params_close(one[1].opt_state, first[1].opt_state, atol=0, rtol=2e-5)
    params_close(one[1].model_state, first[1].model_state, atol=1e-6, rtol=1e-5)


def test_unknown_config_key_is_an_error(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        "--config=experiments/configs/genesis_multi_dsprites.py:quick",
        f"--workdir={tmp_path}",
        "--config.modle=1",
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "modle" in res.stderr
    cfg = tiny_config()
    cfg.model.num_slot = 3
    with pytest.raises(ValueError, match="unknown option"):
        get_model(cfg.model)
