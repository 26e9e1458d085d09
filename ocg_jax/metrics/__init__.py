"""Metrics: pure array functions, one value per image."""

from ocg_jax.metrics.segmentation import adjusted_rand_index, segmentation_covering

__all__ = ["adjusted_rand_index", "segmentation_covering"]
