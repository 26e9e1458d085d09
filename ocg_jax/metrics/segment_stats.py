"""Segment statistics (Bau et al., "Seeing what a GAN cannot generate", ICCV 2019).

An image set is summarised by the class areas of its segmentations: per image a
vector ``[C]`` of the pixel percentage of each class (0-100, summing to 100).
The Fréchet Segmentation Distance (FSD) is the Fréchet distance between the
Gaussians fitted to two such sets; per-class mean areas and their relative change
show which classes a generator under- or over-produces.  Host-side numpy/scipy.
"""

import numpy as np

from ocg_jax.metrics.frechet import feature_stats, frechet_terms_from_stats


def class_areas(class_maps, num_classes: int) -> np.ndarray:
    """``class_maps [N, H, W]`` integer labels -> ``[N, num_classes]`` areas in percent."""
    maps = np.asarray(class_maps)
    if maps.ndim != 3 or not np.issubdtype(maps.dtype, np.integer):
        raise ValueError(f"class_maps must be integer [N, H, W], got {maps.dtype} {maps.shape}")
    if len(maps) == 0:
        raise ValueError("class_maps is empty")
    lo, hi = maps.min(), maps.max()
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"class labels must lie in 0..{num_classes - 1}, got {lo}..{hi}")
    flat = maps.reshape(len(maps), -1)
    counts = np.stack([np.bincount(m, minlength=num_classes) for m in flat])
    return 100.0 * counts / flat.shape[1]


def frechet_segmentation_distance(areas_a, areas_b) -> dict[str, float]:
    """FSD between class-area sets ``[N, C]`` and ``[M, C]`` (each N, M >= 2):
    ``{"fsd", "mean_term", "covariance_term"}``, ``fsd = mean_term + covariance_term``
    with ``mean_term = |mu_a - mu_b|^2`` and ``covariance_term = tr(S_a + S_b - 2 (S_a
    S_b)^{1/2})`` (unbiased covariances; ``1e-6 I`` added only when the root is not finite)."""
    mean, cov = frechet_terms_from_stats(*feature_stats(areas_a), *feature_stats(areas_b))
    return {"fsd": mean + cov, "mean_term": mean, "covariance_term": cov}


def class_area_change(areas_real, areas_generated, names=None) -> list[dict]:
    """Per class: mean area in each set and the relative change ``(gen - real) / real``
    (``None`` for a class absent from the real set), sorted by real area, largest first."""
    train = np.asarray(areas_real, np.float64).mean(axis=0)
    gen = np.asarray(areas_generated, np.float64).mean(axis=0)
    if train.shape != gen.shape:
        raise ValueError(f"class counts differ: {train.shape} vs {gen.shape}")
    names = list(names) if names is not None else [str(c) for c in range(len(train))]
    if len(names) != len(train):
        raise ValueError(f"{len(names)} names for {len(train)} classes")
    rows = [
        {
            "class": names[c],
            "real_area": float(train[c]),
            "generated_area": float(gen[c]),
            "relative_change": float((gen[c] - train[c]) / train[c]) if train[c] > 0 else None,
        }
        for c in range(len(train))
    ]
    return sorted(rows, key=lambda r: -r["real_area"])
