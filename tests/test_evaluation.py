"""Evaluation, pictures and comparison of a trained (tiny) run, through the real launchers."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ocg_jax import viz
from ocg_jax.analysis.compare import load_results, summarise, to_csv, to_markdown
from ocg_jax.analysis.evaluation import evaluate_run
from ocg_jax.analysis.feature_net import _accuracy, scene_features
from ocg_jax.analysis.pictures import make_pictures
from ocg_jax.analysis.runs import load_run
from ocg_jax.data.labels import LABEL_CLASSES, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(num_images=16, batch_size=8, fd_images=16, fd_samples=16, feature_net_steps=20)


@pytest.fixture
def run_dir(tiny_run):
    return tiny_run[0]


def _cli(module, *args, timeout=300):
    res = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_evaluate_cli_writes_eval_json(run_dir, capsys):
    # in this process (absl flags parsed by hand), so it shares compiled functions
    from absl import flags

    from experiments import evaluate

    flags.FLAGS.unparse_flags()
    flags.FLAGS(
        [
            "evaluate",
            f"--workdir={run_dir}",
            "--num_images=16",
            "--batch_size=8",
            "--fd_images=16",
            "--fd_samples=16",
            "--feature_net_steps=20",
            "--probe_train_images=32",
            "--probe_test_images=16",
        ]
    )
    evaluate.main([])
    out = capsys.readouterr().out
    result = json.loads((run_dir / "eval.json").read_text())
    assert result["step"] == 4 and result["num_images"] == 16 and result["split"] == "test"
    m = result["metrics"]
    for key in ("nll", "kl_m", "kl_c", "elbo", "ari", "ari_fg", "sc_fg", "msc_fg"):
        assert np.isfinite(m[key]), key
    assert m["elbo"] == pytest.approx(-(m["nll"] + m["kl_m"] + m["kl_c"]), rel=1e-5)
    assert -1 <= m["ari_fg"] <= 1 and 0 <= m["msc_fg"] <= m["sc_fg"] + 1 and m["sc_fg"] <= 1
    fd = result["frechet"]
    assert (
        fd["extractor"].startswith("scene_net:multi_dsprites/tiny_32px")
        and fd["test_vs_samples"] > 0
    )
    probes = result["probes"]
    assert set(probes["latents"]) == set(probes["pixels"]) and "num_objects" in probes["latents"]
    assert all(0 <= v <= 1 for row in probes["latents"].values() for v in row.values())
    assert "ari_fg" in out and "probe accuracy" in out  # the printed table


@pytest.mark.optimised
def test_evaluation_rejects_bad_requests(run_dir):
    run = load_run(run_dir)
    # sizes beyond the split are cut to it, with a note
    result = evaluate_run(run, **{**SMALL, "num_images": 320, "fd_images": 0}, progress=False)
    assert result["num_images"] == 16 and "num_images=320" in result["notes"][0]
    with pytest.raises(ValueError, match="unknown feature extractor"):
        evaluate_run(run, **SMALL, extractor="clip", probe_train_images=0, progress=False)
    with pytest.raises(ValueError, match="inception_weights"):
        evaluate_run(run, **SMALL, extractor="inception", probe_train_images=0, progress=False)
    with pytest.raises(ValueError, match="no checkpoint at step 3"):
        load_run(run_dir, checkpoint_step=3)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run(run_dir / "images")


def test_evaluation_reads_the_chosen_checkpoint(run_dir):
    kw = {**SMALL, "fd_images": 0, "probe_train_images": 0, "progress": False}
    latest = evaluate_run(load_run(run_dir), **kw)["metrics"]
    step2 = evaluate_run(load_run(run_dir, checkpoint_step=2), **kw)["metrics"]
    assert latest["nll"] != step2["nll"]


@pytest.mark.optimised
def test_feature_net_is_cached_and_learns(data_dir, tmp_path):
    first = scene_features("multi_dsprites", "tiny_32px", data_dir, cache_dir=tmp_path, steps=200)
    assert len(list(tmp_path.glob("*.msgpack"))) == 1
    again = scene_features("multi_dsprites", "tiny_32px", data_dir, cache_dir=tmp_path, steps=200)
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(first(x), again(x))
    assert first(x).shape == (4, 128)
    assert first.test_accuracy == again.test_accuracy
    assert set(first.test_accuracy) == set(LABEL_CLASSES["multi_dsprites"])
    # it learns its labels: on its 64 training scenes it beats the majority rate (~0.3)
    ex = load_examples(load_source("multi_dsprites", "tiny_32px", "train", data_dir), 64)
    acc = _accuracy(first.model, first.params, ex["image"], scene_labels("multi_dsprites", ex))
    assert acc["num_objects"] > 0.5 and acc["largest_shape"] > 0.5


def test_component_by_component_rows_build_up_the_scene():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 4, 1))
    log_masks = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    comps = rng.random((2, 3, 4, 4, 3))
    rows = viz.component_by_component(log_masks, comps)
    assert len(rows) == 3
    np.testing.assert_allclose(rows[0], np.exp(log_masks[:, 0]) * comps[:, 0])
    np.testing.assert_allclose(rows[-1], np.sum(np.exp(log_masks) * comps, axis=1))


def test_row_labels_widen_their_strip_rather_than_clip():
    image = np.zeros((2 * 12 + 2, 20, 3), np.uint8)
    short = viz.label_rows(image, ["input", "recon"])
    long = viz.label_rows(image, ["prior sample + boxes", "prior sample"])
    assert short.shape[1] == 70 + 20
    assert long.shape[1] > short.shape[1]
    strip = long[:, : long.shape[1] - 20]
    ink = np.nonzero((strip < 128).any(axis=(0, 2)))[0]
    assert ink.max() < strip.shape[1] - 2  # white margin after the longest label


def test_visualise_cli_and_pictures(run_dir, tmp_path):
    pics = make_pictures(load_run(run_dir), num=8)
    assert set(pics) == {"reconstructions", "samples", "generation_steps", "sample_components"}
    # 32 px tiles, 2 px padding: K=3 steps + overlay rows, 8 columns, a label strip of at
    # least 70 px (wider where a label needs it)
    height, width, _ = pics["generation_steps"].shape
    strip = width - (8 * 34 + 2)
    assert height == 4 * 34 + 2 and strip >= 70
    assert (pics["generation_steps"][:, :strip] < 128).any()  # the labels are written
    out = _cli("experiments.visualise", f"--workdir={run_dir}", "--num=8", f"--out_dir={tmp_path}")
    for name in pics:
        path = tmp_path / f"{name}_0000004.png"
        assert str(path) in out and path.stat().st_size > 0


def test_compare_averages_seeds(tmp_path):
    def fake_run(name, seed, nll, fd):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"seed": seed, "model": {"name": name[:4]}}))
        (d / "eval.json").write_text(
            json.dumps(
                {
                    "model": name[:4],
                    "dataset": "multi_dsprites/tiny",
                    "seed": seed,
                    "metrics": {"nll": nll},
                    "frechet": {"test_vs_samples": fd},
                }
            )
        )
        return d

    dirs = [
        fake_run("aaaa0", 0, 1.0, 10.0),
        fake_run("aaaa1", 1, 3.0, 20.0),
        fake_run("bbbb0", 0, 5.0, 30.0),
    ]
    columns, rows = summarise(load_results(dirs))
    assert columns == ["nll", "fd"]
    (dirs[2] / "segment_stats.json").write_text(json.dumps({"fsd": {"fsd": 4.5}}))
    fsd_columns, fsd_rows = summarise(load_results(dirs))
    assert fsd_columns == ["nll", "fd", "fsd"]
    assert next(r for r in fsd_rows if r["group"].startswith("bbbb"))["fsd"] == (4.5, 0.0)
    (dirs[2] / "segment_stats.json").unlink()
    first = next(r for r in rows if r["group"].startswith("aaaa"))
    assert first["seeds"] == [0, 1] and first["nll"] == (2.0, 1.0) and first["fd"] == (15.0, 5.0)
    assert "2 ± 1" in to_markdown(columns, rows)
    assert to_csv(columns, rows).splitlines()[0] == "run,num_seeds,nll_mean,nll_std,fd_mean,fd_std"
    out = _cli("experiments.compare", *map(str, dirs), f"--out={tmp_path / 'table'}")
    assert "| aaaa" in out and (tmp_path / "table.csv").exists()
    with pytest.raises(FileNotFoundError, match="experiments.evaluate"):
        load_results([tmp_path])
