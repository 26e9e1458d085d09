"""TFRecord files of ``tf.train.Example`` protos, read and written without TensorFlow.

A record is framed as ``uint64 length, uint32 masked crc32c(length), data,
uint32 masked crc32c(data)`` (little endian); files may be GZIP-compressed as
a whole.  The protos are tfds's copy of ``tf.train.Example`` (same wire format).

    for record in read_records("tetrominoes_train.tfrecords", compression="GZIP"):
        features = parse_example(record)  # {name: list of bytes | np.ndarray}
"""

import gzip
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import google_crc32c
import numpy as np
from tensorflow_datasets.proto import tf_example_pb2

COMPRESSIONS = (None, "GZIP")


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _open(path: Path, mode: str, compression: str | None):
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    return gzip.open(path, mode) if compression == "GZIP" else open(path, mode)


def read_records(path: str | Path, compression: str | None = "GZIP") -> Iterator[bytes]:
    """The records of one file, in order; raises ``ValueError`` on a truncated file or a
    checksum mismatch (e.g. the wrong ``compression``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TFRecord file at {path}")
    with _open(path, "rb", compression) as f:
        index = 0
        while header := f.read(12):
            if len(header) < 12:
                raise ValueError(f"{path}: truncated header of record {index}")
            (length,), (length_crc,) = (
                struct.unpack("<Q", header[:8]),
                struct.unpack("<I", header[8:]),
            )
            if _masked_crc(header[:8]) != length_crc:
                raise ValueError(
                    f"{path}: bad length checksum at record {index}; is the file "
                    f"{'not ' if compression else ''}GZIP-compressed?"
                )
            data, data_crc = f.read(length), f.read(4)
            if len(data) < length or len(data_crc) < 4:
                raise ValueError(f"{path}: record {index} is truncated")
            if _masked_crc(data) != struct.unpack("<I", data_crc)[0]:
                raise ValueError(f"{path}: bad data checksum at record {index}")
            yield data
            index += 1


def write_records(
    path: str | Path, records: Iterable[bytes], compression: str | None = "GZIP"
) -> None:
    """Write ``records`` as a TFRecord file (the inverse of ``read_records``)."""
    with _open(Path(path), "wb", compression) as f:
        for data in records:
            header = struct.pack("<Q", len(data))
            f.write(header + struct.pack("<I", _masked_crc(header)))
            f.write(data + struct.pack("<I", _masked_crc(data)))


def parse_example(record: bytes) -> dict[str, list[bytes] | np.ndarray]:
    """A serialised ``tf.train.Example`` as ``{name: values}``: bytes features as a list of
    ``bytes``, float features as float32 and int64 features as int64 arrays."""
    example = tf_example_pb2.Example.FromString(record)
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[name] = list(feature.bytes_list.value)
        elif kind == "float_list":
            out[name] = np.asarray(feature.float_list.value, np.float32)
        elif kind == "int64_list":
            out[name] = np.asarray(feature.int64_list.value, np.int64)
        else:
            out[name] = np.zeros((0,), np.float32)
    return out


def make_example(features: dict[str, list[bytes] | np.ndarray]) -> bytes:
    """Serialise ``{name: values}`` as a ``tf.train.Example`` (the inverse of
    ``parse_example``): lists of bytes, float arrays or integer arrays."""
    example = tf_example_pb2.Example()
    for name, values in features.items():
        feature = example.features.feature[name]
        if isinstance(values, list | tuple):
            feature.bytes_list.value.extend(values)
        elif np.issubdtype(np.asarray(values).dtype, np.floating):
            feature.float_list.value.extend(np.asarray(values, np.float32).ravel().tolist())
        else:
            feature.int64_list.value.extend(np.asarray(values, np.int64).ravel().tolist())
    return example.SerializeToString()


def bytes_to_uint8(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """A bytes feature stored one string per element (DeepMind's layout) or as one raw
    string, decoded to uint8 ``shape``."""
    raw = np.frombuffer(b"".join(values), np.uint8)
    if raw.size != int(np.prod(shape)):
        raise ValueError(f"{raw.size} bytes do not fill shape {shape}")
    return raw.reshape(shape)
