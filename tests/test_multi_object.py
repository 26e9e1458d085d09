"""Tetrominoes generator and builder; TFRecord I/O; DeepMind multi_object_datasets conversion."""

import gzip

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ocg_jax.data import tetrominoes
from ocg_jax.data.builders.multi_object.multi_object_dataset_builder import (
    Builder,
    MultiObjectConfig,
)
from ocg_jax.data.labels import LABEL_CLASSES, scene_labels
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.data.tfrecord import make_example, parse_example, read_records, write_records


def test_the_19_fixed_tetrominoes():
    shapes = tetrominoes.SHAPES
    assert len(shapes) == 19
    assert all(s.sum() == 4 for s in shapes)
    keys = {(s.shape, s.tobytes()) for s in shapes}
    assert len(keys) == 19  # all distinct
    for s in shapes:  # closed under rotation
        r = np.rot90(s)
        assert (r.shape, r.tobytes()) in keys
    with pytest.raises(ValueError, match="leaves"):
        tetrominoes.tetromino_mask(0, 30, 30, 32, 4)


def test_tetrominoes_scene():
    for seed in range(20):
        s = tetrominoes.tetrominoes_scene(np.random.default_rng(seed))
        assert s["image"].shape == (32, 32, 3) and s["mask"].shape == (32, 32)
        assert set(np.unique(s["mask"])) == {0, 1, 2, 3}  # three objects, none hidden
        np.testing.assert_array_equal(s["image"][s["mask"] == 0], 0)  # black background
        for i in range(3):
            obj = s["mask"] == i + 1
            assert obj.sum() == s["visible_pixels"][i] == 4 * 16  # 4 cells of 4x4 pixels
            np.testing.assert_array_equal(
                s["image"][obj], np.broadcast_to(tetrominoes.COLOURS[s["colour"][i]], (64, 3))
            )
            want = tetrominoes.SHAPES[s["shape"][i]]
            rows, cols = np.nonzero(obj)
            got = obj[rows.min() : rows.max() + 1 : 4, cols.min() : cols.max() + 1 : 4]
            np.testing.assert_array_equal(got, want)


def test_tetrominoes_builder_and_labels(data_dir):
    src = load_source("tetrominoes", "tiny", "train", data_dir)
    assert len(src) == 64
    ex = load_examples(src, 16)
    assert ex["image"].shape == (16, 32, 32, 3) and ex["mask"].max() == 3
    labels = scene_labels("tetrominoes", ex)
    assert set(labels) == set(LABEL_CLASSES["tetrominoes"])
    left = np.argmin(ex["x"], axis=1)
    np.testing.assert_array_equal(labels["leftmost_colour"], ex["colour"][np.arange(16), left])
    assert len(load_source("tetrominoes", "tiny", "test", data_dir)) == 16


def test_tfrecord_roundtrip_and_corruption(tmp_path):
    records = [make_example({"a": [b"x", b"yz"], "f": np.arange(3.0), "i": np.arange(4)})] * 3
    for compression in (None, "GZIP"):
        path = tmp_path / f"r_{compression}.tfrecords"
        write_records(path, records, compression)
        back = list(read_records(path, compression))
        assert back == records
    ex = parse_example(records[0])
    assert (
        ex["a"] == [b"x", b"yz"]
        and ex["f"].dtype == np.float32
        and ex["i"].tolist() == [0, 1, 2, 3]
    )
    raw = tmp_path / "r_None.tfrecords"
    with pytest.raises(ValueError, match="GZIP"):  # wrong compression named
        list(read_records(tmp_path / "r_GZIP.tfrecords", None))
    good = raw.read_bytes()
    data = bytearray(good)
    data[20] ^= 0xFF
    raw.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum at record 0"):
        list(read_records(raw, None))
    raw.write_bytes(good[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(read_records(raw, None))
    with pytest.raises(FileNotFoundError, match="no TFRecord"):
        list(read_records(tmp_path / "missing.tfrecords"))


def _dm_record(image: np.ndarray, labels: np.ndarray, entities: int) -> bytes:
    """A record in DeepMind's layout: one bytes string per uint8 element, binary masks
    [entities, H, W, 1] in {0, 255}, float factors."""
    masks = (np.arange(entities)[:, None, None, None] == labels[None, ..., None]) * 255
    return make_example(
        {
            "image": [bytes([v]) for v in image.ravel()],
            "mask": [bytes([v]) for v in masks.astype(np.uint8).ravel()],
            "x": np.zeros(entities, np.float32),
            "visibility": np.ones(entities, np.float32),
        }
    )


def test_multi_object_conversion(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 35, 35, 3), np.uint8)
    labels = rng.integers(0, 4, (7, 35, 35))
    manual = tmp_path / "manual"
    manual.mkdir()
    write_records(
        manual / "tetrominoes_train.tfrecords",
        [_dm_record(i, m, 4) for i, m in zip(images, labels, strict=True)],
    )
    cfg = MultiObjectConfig(
        name="tetrominoes_test",
        file="tetrominoes_train.tfrecords",
        source_size=(35, 35),
        crop=(1, 1, 32, 32),
        out_size=32,
        num_test=2,
        num_validation=2,
    )
    builder = Builder(config=cfg, data_dir=str(tmp_path / "tfds"), file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    sizes = {s: len(builder.as_data_source(s)) for s in ("test", "validation", "train")}
    assert sizes == {"test": 2, "validation": 2, "train": 3}
    # the first records are the test split, in the crop; masks become entity labels
    want = {images[i, 1:33, 1:33].tobytes(): labels[i, 1:33, 1:33] for i in range(2)}
    for ex in builder.as_data_source("test"):
        np.testing.assert_array_equal(ex["mask"], want[ex["image"].tobytes()])
        assert ex["num_objects"] == 3
    # a missing file names the place it was looked for
    other = Builder(config=cfg, data_dir=str(tmp_path / "tfds2"), file_format="array_record")
    with pytest.raises(FileNotFoundError, match="tetrominoes_train.tfrecords"):
        other.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=tmp_path / "empty")
        )


def test_multi_object_gzip_is_what_is_read(tmp_path):
    """DeepMind's files are GZIP; the reader decompresses them as a whole."""
    path = tmp_path / "x.tfrecords"
    write_records(path, [b"abc"], "GZIP")
    assert gzip.decompress(path.read_bytes())[12:15] == b"abc"


def test_clevr_conversion_crops_and_resizes(tmp_path):
    """CLEVR: 240x320 records, 11 entities; the centre 192x192 is resized to 128x128."""
    rng = np.random.default_rng(1)
    labels = np.zeros((240, 320), np.int64)
    labels[29 + 50 : 29 + 100, 64 + 20 : 64 + 60] = 3  # inside the crop
    labels[:20, :20] = 7  # outside the crop: dropped
    image = rng.integers(0, 256, (240, 320, 3), np.uint8)
    manual = tmp_path / "manual"
    manual.mkdir()
    write_records(manual / "clevr_with_masks_train.tfrecords", [_dm_record(image, labels, 11)] * 3)
    base = Builder.builder_configs["clevr_with_masks"]
    cfg = MultiObjectConfig(
        name="clevr_test",
        file=base.file,
        source_size=base.source_size,
        crop=base.crop,
        out_size=base.out_size,
        num_test=1,
        num_validation=1,
    )
    builder = Builder(config=cfg, data_dir=str(tmp_path / "tfds"), file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    ex = builder.as_data_source("test")[0]
    assert ex["image"].shape == (128, 128, 3) and ex["mask"].shape == (128, 128)
    assert set(np.unique(ex["mask"])) == {0, 3} and ex["num_objects"] == 1
    # the object covered 50x40 of 192x192 source pixels: a third of that at 128 px
    assert abs((ex["mask"] == 3).sum() - 50 * 40 * (128 / 192) ** 2) < 60
