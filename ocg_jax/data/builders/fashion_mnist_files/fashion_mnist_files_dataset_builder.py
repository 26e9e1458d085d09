"""fashion_mnist_files: Fashion-MNIST from the user's IDX files, resized to 32x32.

Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (optionally ``.gz``)
from the manual dir; nothing is downloaded.  Images are resized bilinearly from 28 to 32
px, as Disentangling Disentanglement's ``transforms.Resize(size=(32, 32))`` (the model
clamps them to [1e-6, 1 - 1e-6] as its code does).  ``validation`` is the last 5,000 (or
a twelfth, for smaller files) of the training file; ``train`` the rest.
"""

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from ocg_jax.data.builders import manual_dir
from ocg_jax.data.digits import IDX_FILES, find_file, read_idx


def read_fashion_mnist(manual_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train" | "test": (uint8 [N, 28, 28], int labels [N])}`` from the IDX files."""
    if manual_dir is None:
        raise FileNotFoundError(
            "fashion_mnist_files reads your Fashion-MNIST IDX files: put the four of them "
            "(train-images-idx3-ubyte[.gz], ...) in a directory and set config.data.manual_dir"
        )
    out = {}
    for split, names in IDX_FILES.items():
        found = [find_file(Path(manual_dir), name) for name in names]
        if None in found:
            raise FileNotFoundError(f"no {names[0]}[.gz] / {names[1]}[.gz] in {manual_dir}")
        x, y = read_idx(found[0]), read_idx(found[1])
        if x.ndim != 3 or len(x) != len(y):
            raise ValueError(f"Fashion-MNIST {split}: images {x.shape}, labels {y.shape}")
        out[split] = (x, y)
    return out


class Builder(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST images (32x32, resized) and their class."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Read from the user's IDX files, padded to 32x32.",
        "1.1.0": "Resized (bilinear) to 32x32, as Disentangling Disentanglement's code.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the four Fashion-MNIST IDX files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; "
        "optionally .gz) in the manual directory."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(32, 32, 1), dtype=np.uint8),
                    "label": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            description="Fashion-MNIST (Xiao et al., 2017), resized (bilinear) to 32x32.",
        )

    def _split_generators(self, dl_manager):
        manual = manual_dir(dl_manager)
        data = read_fashion_mnist(manual)
        x, y = data["train"]
        n_val = min(5_000, len(x) // 12) or 1
        return {
            "train": self._generate_examples(x[:-n_val], y[:-n_val]),
            "validation": self._generate_examples(x[-n_val:], y[-n_val:]),
            "test": self._generate_examples(*data["test"]),
        }

    def _generate_examples(self, images, labels):
        for i, (x, y) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": resize32(x)[..., None], "label": np.int32(y)}


def resize32(image: np.ndarray) -> np.ndarray:
    """uint8 ``[28, 28] -> [32, 32]``, bilinear (PIL's, as torchvision's ``Resize``)."""
    return np.asarray(Image.fromarray(image).resize((32, 32), Image.BILINEAR))
