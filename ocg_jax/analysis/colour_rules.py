"""Two colour rules that segment a foreground without learning: the trivial baselines
beside every unsupervised segmentation number (ReDO's).

* ``two_means``: two-means clustering of the pixels' RGB values, started from the
  border's median colour and the pixel farthest from it; the foreground is the cluster
  that owns fewer border pixels.
* ``otsu_border``: Otsu's threshold on each pixel's distance from the border's median
  colour; the foreground is the far side.

Each takes uint8 images ``[B, H, W, 3]`` and returns boolean foregrounds ``[B, H, W]``.
Both assume only that the object does not cover the border: they see colour, never
texture or shape.
"""

import numpy as np

ITERATIONS = 10  # Lloyd iterations: two clusters settle in a few


def _border(x: np.ndarray) -> np.ndarray:
    """``[B, P, C]``: the pixels of each image's one-pixel border."""
    top, bottom = x[:, 0], x[:, -1]
    left, right = x[:, 1:-1, 0], x[:, 1:-1, -1]
    return np.concatenate([top, bottom, left, right], axis=1)


def _as_float(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [B, H, W, C], got {images.dtype} {images.shape}")
    return images.astype(np.float64) / 255.0


def two_means(images) -> np.ndarray:
    """Boolean foreground ``[B, H, W]`` by two-means in RGB from the border (see above)."""
    x = _as_float(images)
    b, h, w, c = x.shape
    pixels = x.reshape(b, h * w, c)
    border = _border(x)
    centre_bg = np.median(border, axis=1)  # [B, C]
    far = np.argmax(np.sum((pixels - centre_bg[:, None]) ** 2, -1), axis=1)
    centres = np.stack([centre_bg, pixels[np.arange(b), far]], axis=1)  # [B, 2, C]
    for _ in range(ITERATIONS):
        dist = np.sum((pixels[:, :, None] - centres[:, None]) ** 2, -1)  # [B, HW, 2]
        labels = np.argmin(dist, -1)
        for k in range(2):
            members = (labels == k)[..., None]
            count = members.sum(1)
            mean = (pixels * members).sum(1) / np.maximum(count, 1)
            centres[:, k] = np.where(count > 0, mean, centres[:, k])
    border_labels = _border(labels.reshape(b, h, w)[..., None])[..., 0]  # [B, P]
    bg = (border_labels.mean(1) > 0.5).astype(int)  # the cluster owning most of the border
    return labels.reshape(b, h, w) != bg[:, None, None]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of 1-D ``values``: the cut between histogram bins that maximises
    the between-class variance; values above it are the second class."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi - lo < 1e-6:  # one colour: no second class
        return hi
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1]
    w1 = hist.sum() - w0
    s0 = np.cumsum(hist * centres)[:-1]
    m0 = s0 / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:-1][np.argmax(between)])


def otsu_border(images) -> np.ndarray:
    """Boolean foreground ``[B, H, W]``: distance from the border's median colour above
    its Otsu threshold (per image)."""
    x = _as_float(images)
    centre = np.median(_border(x), axis=1)  # [B, C]
    dist = np.sqrt(np.sum((x - centre[:, None, None]) ** 2, -1))  # [B, H, W]
    return np.stack([d > otsu_threshold(d.ravel()) for d in dist])


RULES = {"two_means": two_means, "otsu_border": otsu_border}
