"""What ``evaluate`` adds for a model that segments a foreground without labels (ReDO):
accuracy and IoU of its masks under both of ReDO's protocols (``result["foreground"]``).

* ``best_region_per_image``: per image, the region of best IoU is the foreground (the
  lenient protocol the paper reports);
* ``fixed_region``: one region is the foreground for every image, chosen once per model
  as the region of best mean IoU on the validation split.
"""

import numpy as np

from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_source


def foreground_evaluation(
    run: Run, scores: dict, eval_batch, batch_size: int, seed: int, progress: bool
) -> dict:
    """Both protocols on the evaluated images' per-image ``scores`` (the family's
    ``iou``, ``accuracy`` and ``iou_region_k`` / ``accuracy_region_k``)."""
    from ocg_jax.analysis.evaluation import _infer

    if "iou" not in scores:
        return {"note": "the split has no ground-truth masks"}
    data = run.config.data
    val = load_source(data.name, data.config, "validation", run.data_dir, prepare=False)
    n_val = min(len(val), 500)
    val_scores, _, _ = _infer(run, eval_batch, val, n_val, batch_size, seed, "validation", progress)
    regions = sorted(int(k.rsplit("_", 1)[1]) for k in scores if k.startswith("iou_region_"))
    val_iou = [float(np.mean(val_scores[f"iou_region_{k}"])) for k in regions]
    region = regions[int(np.argmax(val_iou))]
    return {
        "best_region_per_image": {
            "accuracy": float(np.mean(scores["accuracy"])),
            "iou": float(np.mean(scores["iou"])),
        },
        "fixed_region": {
            "region": region,
            "chosen_on": f"validation ({n_val} images; mean IoU per region {val_iou})",
            "accuracy": float(np.mean(scores[f"accuracy_region_{region}"])),
            "iou": float(np.mean(scores[f"iou_region_{region}"])),
        },
    }
