"""dSprites (Matthey et al., 2017): the factor grid, rendering, and the original ``.npz``.

Every combination of 5 factors, in the original's row-major order (shape slowest):
shape (square, ellipse, heart) x scale (6, in [0.5, 1]) x orientation (40, in
[0, 2 pi], both ends included as in the original) x position x (32, in [0, 1]) x
position y (32) = 737,280 binary 64x64 images.  ``render`` draws one with the
library's shape renderer (``ocg_jax.data.render``); ``read_npz`` reads the
original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (``imgs``,
``latents_classes``, ``latents_values``; its constant colour factor is dropped).
"""

from pathlib import Path

import numpy as np

from ocg_jax.data.render import shape_mask

FACTORS = ("shape", "scale", "orientation", "x", "y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
#: each factor's values, as in the original's ``latents_values``
FACTOR_VALUES = (
    np.arange(1.0, 4.0),  # 1 square, 2 ellipse, 3 heart
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
NPZ_PATTERN = "dsprites_ndarray_*.npz"


def factor_classes(index) -> np.ndarray:
    """Grid indices ``[N]`` -> factor classes ``[N, 5]`` int32 (the original's order)."""
    return np.stack(np.unravel_index(np.asarray(index), FACTOR_SIZES), axis=-1).astype(np.int32)


def factor_values(classes: np.ndarray) -> np.ndarray:
    """Factor classes ``[N, 5]`` -> values ``[N, 5]`` float32."""
    classes = np.asarray(classes)
    return np.stack(
        [FACTOR_VALUES[f][classes[..., f]] for f in range(len(FACTORS))], axis=-1
    ).astype(np.float32)


def render(classes) -> np.ndarray:
    """One image uint8 ``[64, 64, 1]`` (0 / 255) of the factor classes ``[5]``."""
    shape, scale, orientation, x, y = (int(c) for c in classes)
    mask = shape_mask(
        shape,
        FACTOR_VALUES[1][scale],
        FACTOR_VALUES[2][orientation],
        FACTOR_VALUES[3][x],
        FACTOR_VALUES[4][y],
        64,
    )
    return (mask.astype(np.uint8) * 255)[..., None]


def find_npz(manual_dir) -> Path:
    """The user's original dSprites file in ``manual_dir``, or a clear error."""
    if manual_dir is None or not Path(manual_dir).expanduser().is_dir():
        raise FileNotFoundError(
            "the dsprites 'original' config reads your copy of "
            "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz: put it in a directory and set "
            f"config.data.manual_dir to it (got {manual_dir!r})"
        )
    found = sorted(Path(manual_dir).expanduser().glob(NPZ_PATTERN))
    if not found:
        raise FileNotFoundError(f"no {NPZ_PATTERN} in {manual_dir}")
    return found[0]


def read_npz(path) -> dict[str, np.ndarray]:
    """``{"image": uint8 [N, 64, 64, 1] (0 / 255), "factors": int32 [N, 5], "values":
    float32 [N, 5]}`` from the original file (colour, always 1, dropped)."""
    with np.load(path, encoding="latin1", allow_pickle=False) as f:
        missing = {"imgs", "latents_classes", "latents_values"} - set(f.files)
        if missing:
            raise KeyError(f"{path} lacks {sorted(missing)}; is it the dSprites .npz?")
        imgs, classes, values = f["imgs"], f["latents_classes"], f["latents_values"]
    if imgs.ndim != 3 or classes.shape != (len(imgs), 6) or values.shape != (len(imgs), 6):
        raise ValueError(
            f"{path}: expected imgs [N, 64, 64] and latents [N, 6], got {imgs.shape}, "
            f"{classes.shape}, {values.shape}"
        )
    if imgs.max() > 1:
        raise ValueError(f"{path}: dSprites images are 0/1, found values up to {imgs.max()}")
    return {
        "image": (imgs.astype(np.uint8) * 255)[..., None],
        "factors": classes[:, 1:].astype(np.int32),
        "values": values[:, 1:].astype(np.float32),
    }


def pca_log_variances_original(images, latent: int = 10, k: int = 20) -> np.ndarray:
    """``[latent]``: the original's ``pca`` prior initialisation, as its code computes it:
    ``svds(X, k=20)`` of the uncentred images (uint8 ``[N, ...]``, scaled to [0, 1]),
    squared, the first ``latent`` taken and logged.  ``svds`` returns its values in
    ascending order, so these are the 11th-20th largest for ``latent=10``, smallest first
    (a quirk: the paper describes the top components; ``pca_log_variances`` gives those)."""
    from scipy.sparse.linalg import svds

    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.0
    s = svds(x, k=k, random_state=0)[1]  # ascending
    return np.log(s**2)[:latent].astype(np.float32)


def pca_log_variances(images, k: int = 10) -> np.ndarray:
    """``[k]`` log of the top ``k`` singular values of the centred images (uint8 ``[N, 64, 64,
    1]``, scaled to [0, 1]), largest first: the top principal directions' spread."""
    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.0
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)[:k]
    return np.log(s).astype(np.float32)
