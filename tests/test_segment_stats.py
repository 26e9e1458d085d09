"""Segment statistics (Bau et al. 2019): class maps, FSD, the segmenter, a planted omission."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

from ocg_jax.analysis.segment_stats import histogram_figure, largest_drop, segment_statistics
from ocg_jax.analysis.segmenter import augment_scenes, scene_segmenter, segmentation_scores
from ocg_jax.data.labels import SEGMENT_CLASSES, class_maps
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics import class_areas, frechet_segmentation_distance

FIELDS = ["image", "mask", "shape"]


def test_fsd_matches_a_direct_scipy_computation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 5)) * [1, 2, 3, 1, 1] + 10
    b = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 11
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    root = np.real(scipy.linalg.sqrtm(s_a @ s_b))
    cov_term = np.trace(s_a) + np.trace(s_b) - 2 * np.trace(root)
    fsd = frechet_segmentation_distance(a, b)
    np.testing.assert_allclose(fsd["mean_term"], np.sum((mu_a - mu_b) ** 2), rtol=1e-9)
    np.testing.assert_allclose(fsd["covariance_term"], cov_term, rtol=1e-7)
    np.testing.assert_allclose(fsd["fsd"], fsd["mean_term"] + fsd["covariance_term"])
    assert frechet_segmentation_distance(a, a)["fsd"] == pytest.approx(0.0, abs=1e-6)


def test_class_areas_count_pixels_in_percent():
    maps = np.array([[[0, 0], [1, 2]], [[2, 2], [2, 2]]], np.int32)
    np.testing.assert_allclose(class_areas(maps, 3), [[50, 25, 25], [0, 0, 100]])
    with pytest.raises(ValueError, match=r"lie in 0\.\.1"):
        class_areas(maps, 2)
    with pytest.raises(ValueError, match="integer"):
        class_areas(maps.astype(np.float32), 3)


def test_class_maps_follow_the_instance_masks(data_dir):
    for dataset, config in (("multi_dsprites", "tiny_32px"), ("tetrominoes", "tiny")):
        ex = load_examples(load_source(dataset, config, "train", data_dir), 16, FIELDS)
        maps = class_maps(dataset, ex)
        assert maps.shape == ex["mask"].shape and maps.dtype == np.int32
        np.testing.assert_array_equal(maps == 0, ex["mask"] == 0)
        i, r, c = np.argwhere(ex["mask"] > 0)[7]  # some object pixel
        assert maps[i, r, c] == 1 + ex["shape"][i, ex["mask"][i, r, c] - 1]
        assert maps.max() < len(SEGMENT_CLASSES[dataset])
    with pytest.raises(ValueError, match="no per-pixel classes"):
        class_maps("dsprites", ex)


def test_segmentation_scores_match_sklearn():
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, (6, 8, 8))
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 4, truth.shape))
    s = segmentation_scores(pred, truth, ("bg", "a", "b", "c"))
    per_class = jaccard_score(truth.ravel(), pred.ravel(), average=None)
    np.testing.assert_allclose(list(s["iou"].values()), per_class)
    assert s["mean_iou"] == pytest.approx(per_class.mean())
    assert s["pixel_accuracy"] == pytest.approx(np.mean(pred == truth))


def test_a_planted_omission_stands_out(data_dir, tmp_path):
    """'Generated' = held-out real scenes without hearts: hearts drop most, FSD >> floor."""
    ex = {
        s: load_examples(load_source("multi_dsprites", "tiny", s, data_dir), n, FIELDS)
        for s, n in (("train", 256), ("validation", 64), ("test", 64))
    }
    areas = {s: class_areas(class_maps("multi_dsprites", e), 4) for s, e in ex.items()}
    held_out = np.concatenate([areas["validation"], areas["test"]])
    heart = SEGMENT_CLASSES["multi_dsprites"].index("heart")
    classes = SEGMENT_CLASSES["multi_dsprites"]
    train_a, train_b = areas["train"][:128], areas["train"][128:]
    planted = segment_statistics(train_a, train_b, held_out[held_out[:, heart] == 0], classes)
    honest = segment_statistics(train_a, train_b, held_out, classes)
    assert largest_drop(planted)["class"] == "heart"
    assert largest_drop(planted)["relative_change"] == -1.0
    assert planted["fsd"]["fsd"] > 10 * planted["floor"]["fsd"]
    assert planted["fsd"]["fsd"] > 10 * honest["fsd"]["fsd"]
    assert [r["class"] for r in planted["classes"]][0] == "background"  # most frequent first
    picture = histogram_figure(planted, "planted")
    assert picture.dtype == np.uint8 and picture.ndim == 3
    json.dumps(planted)  # the report is plain JSON


def test_the_no_object_baseline_is_the_distance_to_a_constant_set():
    """FSD to a set that is all background: |mu - e_0|^2 + tr(S), as the formula gives when
    one covariance is zero; the honest set beats it, and it sits above the floor."""
    rng = np.random.default_rng(0)
    objects = rng.dirichlet(np.ones(3), size=(2, 300)) * rng.uniform(2, 20, (2, 300, 1))
    real_a, real_b = (np.concatenate([100 - o.sum(1, keepdims=True), o], 1) for o in objects)
    stats = segment_statistics(real_a, real_b, real_b, ("bg", "a", "b", "c"))
    e0 = np.array([100.0, 0.0, 0.0, 0.0])
    expected = np.sum((real_a.mean(0) - e0) ** 2) + np.trace(np.cov(real_a, rowvar=False))
    assert stats["empty_scenes"]["fsd"] == pytest.approx(expected, rel=1e-6)
    assert stats["empty_scenes"]["fsd"] > 10 * stats["fsd"]["fsd"]


def _dihedral(x: np.ndarray) -> list[np.ndarray]:
    turns = [np.rot90(x, k) for k in range(4)]
    return turns + [t[:, ::-1] for t in turns]


def test_augment_scenes_turns_image_and_map_together_and_empties_some():
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 4, (64, 6, 6)).astype(np.int32)
    maps[:, 0, 0] = 0  # every scene has a background pixel
    images = rng.integers(0, 255, (64, 6, 6, 3)).astype(np.uint8)
    batch = {"image": images.copy(), "class_map": maps.copy(), "other": np.arange(64)}
    out = augment_scenes(np.random.default_rng(1), batch, dihedral=True, empty_share=0.0)
    np.testing.assert_array_equal(batch["image"], images)  # the input is left alone
    np.testing.assert_array_equal(out["other"], batch["other"])
    seen = set()
    for i in range(64):  # one transform, the same for the image and its map
        same = [
            j
            for j, (a, b) in enumerate(zip(_dihedral(images[i]), _dihedral(maps[i]), strict=True))
            if np.array_equal(a, out["image"][i]) and np.array_equal(b, out["class_map"][i])
        ]
        assert same
        seen.add(same[0])
    assert len(seen) == 8  # all eight turns and flips occur

    kept = augment_scenes(np.random.default_rng(1), batch, dihedral=False, empty_share=0.0)
    np.testing.assert_array_equal(kept["image"], images)

    empty = augment_scenes(np.random.default_rng(1), batch, dihedral=False, empty_share=0.5)
    emptied = (empty["class_map"] == 0).all((1, 2))
    assert 16 < emptied.sum() < 48
    first_bg = np.argmax((maps == 0).reshape(64, -1), 1)
    colour = images.reshape(64, 36, 3)[np.arange(64), first_bg]
    np.testing.assert_array_equal(
        empty["image"][emptied],
        np.broadcast_to(colour[emptied, None, None], (emptied.sum(), 6, 6, 3)),
    )
    np.testing.assert_array_equal(empty["image"][~emptied], images[~emptied])


@pytest.mark.optimised
def test_segmenter_trains_caches_and_beats_the_majority_class(data_dir, tmp_path):
    # the data dir's cache, shared with the launcher test and the notebook (150 steps each)
    first = scene_segmenter("multi_dsprites", "tiny_32px", data_dir, steps=150)
    weights = next((Path(data_dir) / "ocg_jax_feature_nets").glob("segmenter_*_s150.msgpack"))
    again = scene_segmenter("multi_dsprites", "tiny_32px", data_dir, steps=150)
    assert first.test_scores == again.test_scores and weights.stat().st_size > 0
    ex = load_examples(load_source("multi_dsprites", "tiny_32px", "test", data_dir), 16, FIELDS)
    truth = class_maps("multi_dsprites", ex)
    spec = first.model.input_spec
    pred = again(spec.to_unit(spec.preprocess(ex["image"])))
    assert pred.shape == truth.shape
    majority = np.mean(truth == 0)  # pixel accuracy of "all background"
    scores = segmentation_scores(pred, truth, first.classes)
    fg_iou = np.sum((pred > 0) & (truth > 0)) / np.sum((pred > 0) | (truth > 0))
    assert scores["pixel_accuracy"] > majority + 0.01
    assert fg_iou > 0.5  # objects are found; telling their shapes apart needs more steps
    assert first.test_scores["pixel_accuracy"] > majority
    with pytest.raises(ValueError, match="no per-pixel classes"):
        scene_segmenter("fg_bg", "tiny", data_dir)


def test_segment_stats_of_a_run(tiny_run, tmp_path):
    # the library behind experiments.segment_stats (its flags clash with evaluate's in one
    # process, so the launcher's printing is tested through format_report)
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.analysis.segment_stats import format_report, run_segment_stats

    run = load_run(tiny_run[0])
    report = run_segment_stats(run, 24, 8, segmenter_steps=150, out_dir=tmp_path)
    assert report == json.loads((tmp_path / "segment_stats.json").read_text()) | {
        "out_dir": str(tmp_path)
    }
    assert report["model"] == "genesis" and report["step"] == 4
    assert report["dataset"] == "multi_dsprites/tiny_32px"
    # the reference and the floor: the 16 + 16 held-out images (the segmenter trained on
    # all 64 training images), so 16 a set, not the 24 asked for, and a note says so
    assert report["num_images"] == 16 and "never saw" in report["notes"][0]
    assert report["reference"] == {
        "sources": ["validation[0:16]", "test[0:16]"],
        "segmenter_train_images": 64,
    }
    assert report["fsd"]["fsd"] == pytest.approx(
        report["fsd"]["mean_term"] + report["fsd"]["covariance_term"]
    )
    assert {r["class"] for r in report["classes"]} == set(SEGMENT_CLASSES["multi_dsprites"])
    assert report["segmenter"]["name"].startswith("segmenter:multi_dsprites/tiny_32px")
    assert (tmp_path / "segment_stats.png").exists()
    assert "FSD" in format_report(report) and "most under-generated" in format_report(report)


def test_a_quick_runs_segmenter_gets_a_quick_default():
    from ocg_jax.analysis.segmenter import STEPS, default_steps

    assert default_steps(5_000) == STEPS == 8000  # small_32px: the measured segmenter
    assert default_steps(256) == 512 and default_steps(64) == 300  # 64 passes, at least 300
