"""Metrics: pure array functions, one value per image (or per feature set)."""

from ocg_jax.metrics.counting import box_iou, count_confusion, matched_box_iou
from ocg_jax.metrics.disentanglement import (
    component_balance,
    dci,
    disentanglement_score,
    hoyer_sparsity,
    mutual_information_gap,
)
from ocg_jax.metrics.foreground import (
    best_region_scores,
    choose_region,
    region_scores,
)
from ocg_jax.metrics.frechet import feature_stats, frechet_distance, frechet_distance_from_stats
from ocg_jax.metrics.segment_stats import (
    class_area_change,
    class_areas,
    frechet_segmentation_distance,
)
from ocg_jax.metrics.segmentation import adjusted_rand_index, mask_scores, segmentation_covering

__all__ = [
    "adjusted_rand_index",
    "best_region_scores",
    "choose_region",
    "box_iou",
    "class_area_change",
    "class_areas",
    "component_balance",
    "count_confusion",
    "dci",
    "disentanglement_score",
    "feature_stats",
    "frechet_distance",
    "frechet_distance_from_stats",
    "frechet_segmentation_distance",
    "hoyer_sparsity",
    "mask_scores",
    "matched_box_iou",
    "mutual_information_gap",
    "region_scores",
    "segmentation_covering",
]
