import jax
import numpy as np
import pytest

from ocg_jax.data.builders import get_builder
from ocg_jax.data.pipeline import ShardedLoader, load_source
from ocg_jax.data.render import ORIENTATIONS, SCALES, multi_dsprites_scene, shape_mask
from ocg_jax.models.base import InputSpec
from ocg_jax.train.sharding import batch_sharding, make_mesh


def test_dsprites_grid_and_shapes():
    assert len(SCALES) == 6 and SCALES[0] == 0.5 and SCALES[-1] == 1.0
    assert len(ORIENTATIONS) == 40 and ORIENTATIONS.max() < 2 * np.pi
    areas = [shape_mask(s, 1.0, 0.0, 0.5, 0.5).sum() for s in range(3)]
    assert all(a > 50 for a in areas) and len(set(areas)) == 3
    small = shape_mask(0, 0.5, 0.0, 0.5, 0.5).sum()
    assert 0.15 < small / areas[0] < 0.35  # area scales with scale^2
    rotated = shape_mask(0, 1.0, np.pi / 4, 0.5, 0.5)
    assert not np.array_equal(rotated, shape_mask(0, 1.0, 0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="shape"):
        shape_mask(3, 1.0, 0.0, 0.5, 0.5)


@pytest.mark.parametrize("unique", [False, True])
def test_scene_follows_the_genesis_generator(unique):
    levels = {0, 63, 127, 191, 255}
    for seed in range(30):
        s = multi_dsprites_scene(np.random.default_rng(seed), unique_colours=unique)
        n = int(s["num_objects"])
        assert 1 <= n <= 4 and s["image"].dtype == np.uint8 and s["mask"].shape == (64, 64)
        assert set(np.unique(s["mask"])) <= set(range(n + 1))
        assert set(np.unique(s["image"])) <= levels
        assert (s["shape"][:n] >= 0).all() and (s["shape"][n:] == -1).all()
        # the last object is painted on top: all its pixels are visible
        last = shape_mask(
            int(s["shape"][n - 1]),
            s["scale"][n - 1],
            s["orientation"][n - 1],
            s["x"][n - 1],
            s["y"][n - 1],
        )
        assert s["visible_pixels"][n - 1] == last.sum()
        for i in range(n):  # every labelled pixel has its object's colour
            np.testing.assert_array_equal(
                s["image"][s["mask"] == i + 1],
                np.broadcast_to(s["colour"][i], (s["visible_pixels"][i], 3)),
            )
        if unique:
            colours = [tuple(c) for c in s["colour"][:n]] + [
                tuple(s["image"][s["mask"] == 0][0]) if (s["mask"] == 0).any() else ()
            ]
            colours = [c for c in colours if c]
            assert len(colours) == len(set(colours))


def test_builder_is_deterministic_and_readable(data_dir):
    src = load_source("multi_dsprites", "tiny_32px", "train", data_dir)
    assert len(src) == 64
    ex = src[0]
    assert ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8
    assert ex["mask"].shape == (32, 32)
    again = get_builder("multi_dsprites", "tiny_32px", data_dir).as_data_source("train")
    np.testing.assert_array_equal(again[5]["image"], src[5]["image"])


def test_missing_and_unknown_datasets_give_clear_errors(tmp_path, data_dir):
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_source("multi_dsprites", "tiny", "train", str(tmp_path), prepare=False)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_source("no_such_data", None, "train", str(tmp_path))
    with pytest.raises(ValueError, match="no config"):
        load_source("multi_dsprites", "huge", "train", str(tmp_path))
    with pytest.raises(ValueError, match="no split"):
        load_source("multi_dsprites", "tiny_32px", "dev", data_dir)


def test_loader_shards_batches_and_resumes(data_dir):
    src = load_source("multi_dsprites", "tiny_32px", "train", data_dir)
    mesh = make_mesh()
    assert mesh.size == 2
    loader = ShardedLoader(
        src, batch_size=8, sharding=batch_sharding(mesh), seed=3, fields=("image", "mask")
    )
    first = next(loader)
    assert len(loader._queue) == 2  # two more batches already on their way to the devices
    assert first["image"].shape == (8, 32, 32, 3)
    assert len(first["image"].addressable_shards) == 2
    assert first["image"].addressable_shards[0].data.shape == (4, 32, 32, 3)
    state = loader.get_state()  # the position of the first prefetched batch, not the third
    nxt = [np.asarray(next(loader)["image"]) for _ in range(3)]
    other = ShardedLoader(
        src, batch_size=8, sharding=batch_sharding(mesh), seed=3, fields=("image", "mask")
    )
    other.set_state(state)
    for want in nxt:
        np.testing.assert_array_equal(np.asarray(next(other)["image"]), want)
    # one epoch (8 batches of 8) visits each of the 64 examples exactly once
    epoch = ShardedLoader(src, batch_size=8, sharding=batch_sharding(mesh), seed=4)
    seen = {np.asarray(img).tobytes() for _ in range(8) for img in next(epoch)["image"]}
    assert seen == {src[i]["image"].tobytes() for i in range(64)}
    with pytest.raises(ValueError, match="divisible"):
        ShardedLoader(src, batch_size=7, sharding=batch_sharding(mesh))


def test_image_checks():
    with pytest.raises(TypeError, match="uint8"):
        InputSpec((64, 64, 3)).check_stored(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="expects"):
        InputSpec((64, 64, 3)).check_stored(np.zeros((2, 32, 32, 3), np.uint8))
    spec = InputSpec((2, 2, 1), low=-1.0, high=1.0)
    with pytest.raises(TypeError, match="uint8"):
        spec.preprocess(jax.numpy.zeros((1, 2, 2, 1)))
    x = spec.preprocess(np.array([0, 255, 51], np.uint8).reshape(1, 3, 1, 1)[:, :2])
    np.testing.assert_allclose(np.asarray(x).ravel(), [-1.0, 1.0])
    np.testing.assert_allclose(spec.to_unit(np.asarray(x)).reshape(-1, 3)[:, 0], [0.0, 1.0])
    spec.check(np.zeros((3, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        spec.check(np.full((3, 2, 2, 1), 2.0, np.float32))
    with pytest.raises(ValueError, match="shape"):
        spec.check(np.zeros((3, 2, 2, 3), np.float32))


def test_processes_read_their_rows_of_the_same_global_batches(data_dir):
    """With P processes, process p decodes rows [p B/P, (p+1) B/P) of each global batch of
    the one-process order: the global batches do not depend on the number of processes."""
    import grain

    from ocg_jax.data.pipeline import _ProcessRows

    src = load_source("multi_dsprites", "tiny_32px", "train", data_dir)
    ds = grain.MapDataset.source(src).seed(5).shuffle().repeat()
    whole = [ds[i]["image"] for i in range(24)]  # three global batches of 8
    parts = [_ProcessRows(ds, 8, 2, 2 * p) for p in range(4)]
    for b in range(3):
        rows = [parts[p][2 * b + r]["image"] for p in range(4) for r in range(2)]
        np.testing.assert_array_equal(np.stack(rows), np.stack(whole[8 * b : 8 * b + 8]))
