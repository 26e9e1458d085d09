"""multi_object: DeepMind's multi_object_datasets files, converted to array_record.

Reads the GZIP TFRecord files a user already has (nothing is downloaded) and
stores ``image`` uint8 ``[S, S, 3]``, ``mask`` uint8 ``[S, S]`` (entity index,
0 = the first entity, the background) and ``num_objects``; no TensorFlow.

    builder = get_builder("multi_object", "tetrominoes", data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir="/path/to/the/tfrecords"))  # default: <data_dir>/downloads/manual

Splits follow the GENESIS convention: the first ``num_test`` records are test,
the next ``num_validation`` validation, the rest (up to ``num_train``) train.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from ocg_jax.data.builders import manual_dir
from ocg_jax.data.tfrecord import bytes_to_uint8, parse_example, read_records


@dataclasses.dataclass
class MultiObjectConfig(tfds.core.BuilderConfig):
    """One dataset file: its name, stored image size (H, W), and the crop
    ``(top, left, height, width)`` and square resize that give the output."""

    file: str = ""
    source_size: tuple[int, int] = (64, 64)
    crop: tuple[int, int, int, int] | None = None
    out_size: int = 64
    num_test: int = 10_000
    num_validation: int = 10_000
    num_train: int | None = None  # None: every remaining record


def _dsprites(variant: str) -> MultiObjectConfig:
    return MultiObjectConfig(
        name=f"multi_dsprites_{variant}",
        file=f"multi_dsprites_{variant}.tfrecords",
        description=f"multi_dsprites/{variant}, 64x64.",
    )


class Builder(tfds.core.GeneratorBasedBuilder):
    """Images and instance masks of DeepMind's multi-object datasets."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "image, entity mask and object count."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the dataset's TFRecord file (e.g. tetrominoes_train.tfrecords from "
        "gs://multi-object-datasets/tetrominoes/) in the manual directory, by default "
        "<data_dir>/downloads/manual/."
    )
    BUILDER_CONFIGS = [
        _dsprites("binarized"),
        _dsprites("colored_on_grayscale"),
        _dsprites("colored_on_colored"),
        MultiObjectConfig(
            name="tetrominoes",
            file="tetrominoes_train.tfrecords",
            source_size=(35, 35),
            crop=(1, 1, 32, 32),  # our choice of 32x32 window; the objects keep clear of it
            out_size=32,
            description="Tetrominoes, 35x35 cropped to 32x32.",
        ),
        MultiObjectConfig(
            name="objects_room",
            file="objects_room_train.tfrecords",
            description="Objects Room (train variant), 64x64.",
        ),
        MultiObjectConfig(
            name="clevr_with_masks",
            file="clevr_with_masks_train.tfrecords",
            source_size=(240, 320),
            crop=(29, 64, 192, 192),  # MONet's centre crop
            out_size=128,
            num_test=5_000,
            num_validation=5_000,
            description="CLEVR with masks, centre 192x192 resized to 128x128.",
        ),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.out_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(s, s, 3), dtype=np.uint8, encoding="zlib"),
                    "mask": tfds.features.Tensor(shape=(s, s), dtype=np.uint8, encoding="zlib"),
                    "num_objects": tfds.features.Scalar(dtype=np.int32),
                }
            ),
            description="DeepMind multi_object_datasets, converted; mask 0 = background entity.",
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        folder = manual_dir(dl_manager)
        if folder is None:
            raise FileNotFoundError(
                f"multi_object converts your {cfg.file}: put it in a directory and set "
                "config.data.manual_dir to it (or put it in ~/tensorflow_datasets/downloads/manual)"
            )
        path = folder / cfg.file
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        test_end = cfg.num_test
        val_end = test_end + cfg.num_validation
        train_end = None if cfg.num_train is None else val_end + cfg.num_train
        return {
            "test": self._generate_examples(path, 0, test_end),
            "validation": self._generate_examples(path, test_end, val_end),
            "train": self._generate_examples(path, val_end, train_end),
        }

    def _generate_examples(self, path, start: int, end: int | None):
        for index, record in enumerate(read_records(path, "GZIP")):
            if end is not None and index >= end:
                break
            if index >= start:
                yield index, self._convert(parse_example(record), index)

    def _convert(self, ex: dict, index: int) -> dict:
        cfg = self.builder_config
        h, w = cfg.source_size
        for key in ("image", "mask"):
            if key not in ex:
                raise ValueError(f"record {index} has no {key!r} feature; it has {sorted(ex)}")
        image = bytes_to_uint8(ex["image"], (h, w, 3))
        raw_mask = b"".join(ex["mask"])
        if len(raw_mask) % (h * w):
            raise ValueError(f"record {index}: mask of {len(raw_mask)} bytes is not n x {h}x{w}")
        masks = np.frombuffer(raw_mask, np.uint8).reshape(-1, h, w)  # [entities, H, W]
        labels = np.argmax(masks, axis=0).astype(np.uint8)  # entity per pixel, 0 if none
        if cfg.crop is not None:
            top, left, ch, cw = cfg.crop
            image, labels = (
                image[top : top + ch, left : left + cw],
                labels[top : top + ch, left : left + cw],
            )
        if image.shape[:2] != (cfg.out_size, cfg.out_size):
            size = (cfg.out_size, cfg.out_size)
            image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
            labels = np.asarray(Image.fromarray(labels).resize(size, Image.NEAREST))
        num_objects = len(np.unique(labels[labels > 0]))
        return {"image": image, "mask": labels, "num_objects": np.int32(num_objects)}
