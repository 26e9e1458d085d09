"""ReDO: the networks' contract, the two training phases, collapse detection and restarts,
and evaluation under both protocols (a forced collapse on a tiny run)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ocg_jax.models.registry import get_model
from ocg_jax.nn.redo import MaskNet
from ocg_jax.train.collapse import CollapseError, StreakMonitor

TINY = {"name": "redo", "image_size": 64, "nf_mask": 8, "mask_res": 1, "nf_gen": 4}
TINY |= {"nf_disc": 8, "nf_rec": 8}


@pytest.fixture(scope="module")
def forced_collapse_run(tmp_path_factory, data_dir):
    """``(workdir, run)``: a tiny ReDO run under the original's rule with threshold 0.4999,
    so every check finds a collapse: it collapses at step 6, restarts once (from scratch),
    collapses again and trains on to the end (one run: compiling ReDO is the slow part)."""
    from experiments.configs import redo_fg_bg
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    c = redo_fg_bg.get_config("32,quick")  # 32 px: compiles 20% faster than 64
    c.data.data_dir = data_dir
    c.num_steps, c.log_every, c.checkpoint_every, c.eval_every = 12, 1, 3, 3
    c.collapse.update(threshold=0.4999, healthy=0.4999, check_every=6, max_restarts=1)
    workdir = tmp_path_factory.mktemp("redo") / "run"
    train_and_evaluate(c, workdir, progress=False)
    return workdir, load_run(workdir)


def test_masks_partition_the_image_and_redrawing_keeps_the_rest(forced_collapse_run):
    run = forced_collapse_run[1]
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)), jnp.float32)
    z = run.model.noise(jax.random.PRNGKey(1), 8)
    masks, redrawn = run.model.redraw(run.variables, x, z)  # compiled by the run's pictures
    assert set(run.variables["params"]) == set(run.model.groups)
    assert masks.shape == (8, 2, 32, 32)
    np.testing.assert_allclose(masks.sum(1), 1.0, atol=1e-5)
    # redrawn_k = G_k * m_k + (1 - m_k) x: where m_k -> 0 the input is kept
    m = np.asarray(masks)[:, :, ..., None]
    parts = np.asarray(redrawn) - (1 - m) * np.asarray(x)[:, None]
    assert np.all(np.abs(parts) <= m + 1e-5)  # |tanh(.) * m| <= m
    three = MaskNet(regions=3, nf=8, num_res=1)  # more than 2 regions: a softmax
    masks = three.apply(three.init(jax.random.PRNGKey(0), x[:1]), x[:1])
    assert masks.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(masks.sum(1), 1.0, atol=1e-5)


# Parameters per network of the original at its defaults (128 px, nf 64, z 32, 2 regions,
# F with 3 residual blocks), counted with PyTorch from mickaelChen/ReDO's models.py (d654252).
ORIGINAL_PARAMS = {"mask": 274_966, "generator": 61_826_620}
ORIGINAL_PARAMS |= {"discriminator": 38_419_137, "recovery": 38_483_712}


def test_paper_networks_have_the_originals_parameter_counts():
    from experiments.configs import redo_fg_bg

    model = get_model(redo_fg_bg.get_config("128").model)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 128, 128, 3)))
    counts = {k: sum(x.size for x in jax.tree.leaves(v)) for k, v in shapes["params"].items()}
    assert counts == ORIGINAL_PARAMS


def test_phases_log_their_losses_and_region_areas(forced_collapse_run):
    workdir = forced_collapse_run[0]
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "redraw_loss" in r]
    assert len(steps) == 12
    for r in steps:
        assert abs(r["area_0"] + r["area_1"] - 1.0) < 1e-5
        assert r["discriminator_loss"] >= 0 and r["loss_z"] > 0  # a hinge loss; ||delta - z||^2
        assert np.isfinite(r["redraw_loss"])
    with pytest.raises(ValueError, match="image_size must be 32, 64 or 128"):
        get_model({**TINY, "image_size": 48})


def test_collapse_monitor_needs_a_full_window_of_bad_steps():
    monitor = StreakMonitor(("area_0", "area_1"), threshold=0.05, window=3, healthy=0.1)
    monitor.check(1, {"area_0": 0.02, "area_1": 0.98})
    monitor.check(2, {"area_0": 0.02, "area_1": 0.98})
    monitor.check(3, {"area_0": 0.4, "area_1": 0.6})  # healthy again: the streak restarts
    monitor.check(4, {"area_0": 0.01, "area_1": 0.99})
    monitor.check(5, {"area_0": 0.01, "area_1": 0.99})
    with pytest.raises(CollapseError, match="since step 4") as e:
        monitor.check(6, {"area_0": 0.01, "area_1": 0.99})
    assert e.value.streak_start == 4 and e.value.step == 6


def test_a_restart_goes_back_to_before_the_drift_not_just_the_streak():
    monitor = StreakMonitor(("area_0", "area_1"), threshold=0.05, window=2, healthy=0.1)
    monitor.check(1, {"area_0": 0.3, "area_1": 0.7})
    monitor.check(2, {"area_0": 0.08, "area_1": 0.92})  # drifting, not yet bad
    monitor.check(3, {"area_0": 0.12, "area_1": 0.88})  # back in the band: the drift resets
    monitor.check(4, {"area_0": 0.07, "area_1": 0.93})  # the drift that ends in the collapse
    monitor.check(5, {"area_0": 0.04, "area_1": 0.96})
    with pytest.raises(CollapseError) as e:
        monitor.check(6, {"area_0": 0.03, "area_1": 0.97})
    assert (e.value.drift_start, e.value.streak_start, e.value.step) == (4, 5, 6)
    from ocg_jax.train.collapse import settings

    with pytest.raises(ValueError, match="threshold <= healthy"):
        settings({"collapse": {"threshold": 0.2, "healthy": 0.1}})


def test_the_original_rule_needs_both_batches_small_and_restarts_only_early(tmp_path):
    """As ReDO's ``--autoRestart``: at a check step, the smallest area of the training batch
    and of the validation batch both below the threshold; a restart only up to
    ``restart_before``, later a warning and training on."""
    from ocg_jax.train.collapse import CollapseWatch, original_check
    from ocg_jax.train.monitors import RestartRun

    names = ("area_0", "area_1")
    train, val = {"area_0": 0.05, "area_1": 0.95}, {"val_area_0": 0.3, "val_area_1": 0.7}
    original_check(500, train, val, names, 0.1)  # the validation batch is fine: no collapse
    with pytest.raises(CollapseError, match="0.050 of a training batch and 0.080"):
        original_check(500, train, {"val_area_0": 0.08, "val_area_1": 0.92}, names, 0.1)

    config = {"collapse": {"check_every": 500}, "eval_every": 250}
    said, logged = [], []
    model = get_model({**TINY, "image_size": 32})
    log = lambda step, values: logged.append(step)
    watch = CollapseWatch.create(model, _Config(config), tmp_path, log=log, say=said.append)
    small = {"val_area_0": 0.05, "val_area_1": 0.95}
    watch.flushed(500, [(499, train), (500, train)])
    with pytest.raises(RestartRun):
        watch.evaluated(500, small)
    watch.flushed(7500, [(7500, train)])
    watch.evaluated(7500, small)  # after step 7,000: reported, not restarted
    assert logged == [500, 7500] and "past step 7000" in said[-1]
    with pytest.raises(ValueError, match="multiple of config.eval_every"):
        CollapseWatch.create(model, _Config({**config, "eval_every": 300}), tmp_path,
                             log=None, say=None)  # fmt: skip


class _Config(dict):
    """A config as the monitors read it: ``get`` and attributes."""

    __getattr__ = dict.__getitem__


def test_the_collapse_summary_reads_the_areas_and_the_restart_record(tmp_path):
    from ocg_jax.train import collapse

    config = {"collapse": {"threshold": 0.1, "drift": 0.08}}  # an old run's key: read, unused
    healthy = collapse.summary(tmp_path, {"area_0": 0.78, "area_1": 0.22}, config)
    assert healthy == {"restarts": 0, "flagged": False, "collapsed": False, "threshold": 0.1}
    collapse.write_record(tmp_path, {"restarts": [{"step": 9}, {"step": 20}]})
    (tmp_path / "metrics.jsonl").write_text('{"step": 30, "collapsed": 1.0}\n')
    gone = collapse.summary(tmp_path, {"area_0": 0.95, "area_1": 0.05}, config)
    assert gone == {"restarts": 2, "flagged": True, "collapsed": True, "threshold": 0.1}


def test_forced_collapse_restarts_then_trains_on(forced_collapse_run):
    from ocg_jax.analysis.compare import flat_metrics
    from ocg_jax.analysis.evaluation import evaluate_run

    workdir, run = forced_collapse_run
    record = json.loads((workdir / "collapse.json").read_text())
    assert len(record["restarts"]) == 1
    first = record["restarts"][0]
    assert first["step"] == 6 and first["resumed_from"] is None  # the first check, from scratch
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert sum("collapsed" in r for r in rows) >= 1 and rows[-1]["step"] == 12
    discarded = workdir / "metrics.discarded.jsonl"
    assert any("collapsed" in json.loads(line) for line in discarded.read_text().splitlines())
    assert (workdir.parent / "run" / "checkpoints.collapsed").is_dir()  # moved, not deleted
    result = evaluate_run(run, num_images=16, progress=False)
    fg = result["foreground"]
    assert set(fg) == {"best_region_per_image", "fixed_region", "all_background_accuracy"}
    assert 0 < fg["all_background_accuracy"] < 1  # chance for the accuracy
    assert fg["best_region_per_image"]["iou"] >= fg["fixed_region"]["iou"]
    # its areas are outside [0.4999, 0.5001]: collapsed now, after one restart
    assert result["collapse"] == {
        "restarts": 1, "flagged": True, "collapsed": True, "threshold": 0.4999
    }  # fmt: skip
    row = flat_metrics(result)  # what experiments.seeds tabulates per seed
    assert row["restarts"] == 1.0 and row["collapsed"] == 1.0
    # keep_best ("iou", the original's best.pth): the final attempt's best validation step
    from ocg_jax.analysis.runs import load_run

    val = [r for r in rows if "val_iou" in r]
    assert load_run(workdir, best=True).step == max(val, key=lambda r: r["val_iou"])["step"]
    assert (workdir.parent / "run" / "checkpoints.best.replaced").is_dir()  # the first attempt's


def test_a_restart_starts_from_scratch_or_from_the_checkpoint_before_the_drift(
    forced_collapse_run, tmp_path
):
    import shutil

    from experiments.configs import redo_fg_bg
    from ocg_jax.train.checkpoint import Checkpointer
    from ocg_jax.train.collapse import CollapseWatch

    def restart(config, error):  # what the monitor's RestartRun asks of the loop
        watch = CollapseWatch.create(run.model, config, workdir, log=None, say=None)
        watch._prepare_restart(error)

    run = forced_collapse_run[1]

    workdir = tmp_path / "run"
    shutil.copytree(forced_collapse_run[0], workdir)
    (workdir / "collapse.json").unlink()
    steps = Checkpointer(workdir / "checkpoints", save_every=3).all_steps()
    assert len(steps) >= 2
    # the drift began at the last checkpoint's step, the bad streak after it
    last = steps[-1]
    error = CollapseError("test", step=last + 2, streak_start=last + 1, drift_start=last)
    c = redo_fg_bg.get_config("32,quick")
    c.collapse.from_scratch = False
    restart(c, error)
    record = json.loads((workdir / "collapse.json").read_text())["restarts"]
    assert record[-1]["resumed_from"] == steps[-2]  # not steps[-1], written during the drift
    assert Checkpointer(workdir / "checkpoints", save_every=3).all_steps() == steps[:-1]
    assert list((workdir / "checkpoints.collapsed").glob(f"{last}-*"))  # moved, not deleted
    # the default, as the original: from scratch, every checkpoint moved aside
    c.collapse.from_scratch = True
    restart(c, error)
    record = json.loads((workdir / "collapse.json").read_text())["restarts"]
    assert len(record) == 2 and record[-1]["resumed_from"] is None
    assert Checkpointer(workdir / "checkpoints", save_every=3).all_steps() == []
    assert len(list((workdir / "checkpoints.collapsed").glob("*"))) >= len(steps)
