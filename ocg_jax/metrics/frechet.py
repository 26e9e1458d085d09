"""Fréchet distance between two feature sets (FID when the features are Inception pool3).

``FD = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` for the Gaussians fitted
to each set.  Host-side numpy/scipy in float64: the matrix square root is not
worth a device round trip and needs double precision for 2048-d features.
"""

import warnings

import numpy as np
import scipy.linalg


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """``features [N, D]`` -> ``(mean [D], covariance [D, D])`` in float64 (N >= 2)."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError("features contain NaN or Inf")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrtm(m: np.ndarray) -> np.ndarray:
    """``scipy.linalg.sqrtm`` without its warning on singular input (the caller checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(m)


def frechet_terms_from_stats(mu_a, cov_a, mu_b, cov_b, eps: float = 1e-6) -> tuple[float, float]:
    """``(|mu_a - mu_b|^2, tr(S_a + S_b - 2 (S_a S_b)^{1/2}))``: the two terms of the distance."""
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"feature dims differ: {mu_a.shape} vs {mu_b.shape}")
    covmean = _sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(covmean)):
        # as the reference (TTUR, ganseeing): regularise only when the root is not finite
        offset = np.eye(cov_a.shape[0]) * eps
        covmean = _sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"the covariance product's square root has an imaginary part of "
                f"{np.max(np.abs(covmean.imag)):.3g}: the features are degenerate"
            )
        covmean = covmean.real  # round-off
    diff = mu_a - mu_b
    return float(diff @ diff), float(np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b, eps: float = 1e-6) -> float:
    """Fréchet distance between ``N(mu_a, cov_a)`` and ``N(mu_b, cov_b)``."""
    return sum(frechet_terms_from_stats(mu_a, cov_a, mu_b, cov_b, eps))


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between feature sets ``[N, D]`` and ``[M, D]``."""
    return frechet_distance_from_stats(*feature_stats(features_a), *feature_stats(features_b))
