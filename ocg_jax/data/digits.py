"""Multi-digit canvases for AIR: source digits and how a canvas is drawn.

Two sources of digits, each split into disjoint train and test digits:

* ``sklearn_digits()``: scikit-learn's bundled 8x8 digits (1,797, no download),
  upsampled smoothly (cubic spline) to ``ink`` px and centred in a ``size`` px
  patch (16 in 20, as MNIST's digits sit in 20 of 28 px); a fixed sixth is held out.
* ``mnist_digits(manual_dir)``: MNIST from files the user already has, either
  Keras's ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) or the
  four IDX files (optionally gzipped); its own train / test split.  Each digit
  is shrunk by a factor ``s ~ N(1.3, 0.1^2)`` when a canvas is drawn, as in the
  public multi-MNIST (28 px -> about 21.5 px).

``draw_canvas`` places digits uniformly; overlapping digits add and clip.
"""

import gzip
import struct
from pathlib import Path

import numpy as np
from scipy import ndimage

MAX_DIGITS = 3  # per canvas in every config (absent digits: class -1, box 0)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class Digits:
    """Source digits of one split: float images in [0, 1] and their classes."""

    def __init__(
        self, images: list[np.ndarray] | np.ndarray, labels: np.ndarray, scale_jitter=False
    ):
        self.images, self.labels = images, np.asarray(labels, np.int32)
        self.scale_jitter = scale_jitter  # MNIST: shrink by s ~ N(1.3, 0.1^2) per use

    def __len__(self) -> int:
        return len(self.labels)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """A random digit ``[h, w]`` in [0, 1] and its class."""
        i = int(rng.integers(len(self)))
        image = self.images[i]
        if self.scale_jitter:
            s = max(0.8, rng.normal(1.3, 0.1))
            image = np.clip(ndimage.zoom(image, 1.0 / s, order=1), 0.0, 1.0)
        return image, int(self.labels[i])


def sklearn_digits(
    size: int = 20, ink: int = 16, test_fraction: float = 1 / 6, seed: int = 0
) -> dict:
    """``{"train": Digits, "test": Digits}`` from scikit-learn's 8x8 digits, ``ink`` px wide
    in ``size`` px patches; the test digits are a fixed random ``test_fraction`` of the
    1,797 (none in train)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images.astype(np.float32) / 16.0
    zoomed = np.clip(ndimage.zoom(images, (1, ink / 8, ink / 8), order=3), 0.0, 1.0)
    border = (size - ink) // 2
    big = np.zeros((len(images), size, size), np.float32)
    big[:, border : border + ink, border : border + ink] = zoomed
    order = np.random.default_rng(seed).permutation(len(big))
    n_test = int(round(len(big) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return {
        "train": Digits(big[train], data.target[train]),
        "test": Digits(big[test], data.target[test]),
    }


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def mnist_digits(manual_dir: str | Path | None) -> dict:
    """``{"train": Digits, "test": Digits}`` from the user's MNIST files in ``manual_dir``."""
    if manual_dir is None:
        raise FileNotFoundError(
            "the mnist configs read MNIST from your own files: put mnist.npz (or the four IDX "
            "files) in a directory and set config.data.manual_dir to it"
        )
    directory = Path(manual_dir).expanduser()
    arrays = {}
    if (directory / "mnist.npz").exists():
        with np.load(directory / "mnist.npz") as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise KeyError(f"{directory / 'mnist.npz'} lacks {sorted(missing)}")
            arrays = {s: (f[f"x_{s}"], f[f"y_{s}"]) for s in ("train", "test")}
    else:
        for split, (images, labels) in IDX_FILES.items():
            found = find_file(directory, images), find_file(directory, labels)
            if None in found:
                raise FileNotFoundError(
                    f"no mnist.npz and no {images}[.gz] / {labels}[.gz] in {directory}"
                )
            arrays[split] = (read_idx(found[0]), read_idx(found[1]))
    out = {}
    for split, (x, y) in arrays.items():
        if x.ndim != 3 or len(x) != len(y):
            raise ValueError(f"MNIST {split}: images {x.shape} and labels {y.shape} do not match")
        out[split] = Digits(x.astype(np.float32) / 255.0, y, scale_jitter=True)
    return out


def draw_canvas(
    rng: np.random.Generator, digits: Digits, count: int, canvas: int = 50, ink: float = 0.25
) -> dict:
    """One example: ``count`` digits at uniform positions on a ``canvas`` px square.

    ``image`` uint8 ``[canvas, canvas, 1]``; ``mask`` uint8 instance ids (a pixel belongs to
    the digit brightest there, if above ``ink``; 0 background); ``num_objects``; per digit
    slot ``digit`` (class, -1 if absent) and ``box`` (y0, x0, y1, x1 of the placed digit in
    pixels, edges; 0 if absent)."""
    layers = np.zeros((MAX_DIGITS, canvas, canvas), np.float32)
    classes = np.full(MAX_DIGITS, -1, np.int32)
    boxes = np.zeros((MAX_DIGITS, 4), np.float32)
    for k in range(count):
        image, label = digits.draw(rng)
        h, w = image.shape
        y0, x0 = int(rng.integers(0, canvas - h + 1)), int(rng.integers(0, canvas - w + 1))
        layers[k, y0 : y0 + h, x0 : x0 + w] = image
        classes[k], boxes[k] = label, (y0, x0, y0 + h, x0 + w)
    image = np.clip(layers.sum(0), 0.0, 1.0)
    brightest = layers.max(0)
    mask = np.where(brightest > ink, layers.argmax(0) + 1, 0).astype(np.uint8)
    return {
        "image": np.round(image * 255).astype(np.uint8)[..., None],
        "mask": mask,
        "num_objects": np.int32(count),
        "digit": classes,
        "box": boxes,
    }
