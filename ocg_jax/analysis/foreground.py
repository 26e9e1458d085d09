"""What ``evaluate`` adds for a model that segments a foreground without labels (ReDO):
accuracy and IoU of its masks under both of ReDO's protocols (``result["foreground"]``),
and of the colour rules (``ocg_jax.analysis.colour_rules``) under the same protocols
(``result["colour_rules"]``).

* ``best_region_per_image``: per image, the region of best IoU is the foreground (the
  lenient protocol the paper reports);
* ``fixed_region``: one region is the foreground for every image, chosen once per model
  as the region of best mean IoU on the validation split (a colour rule: its foreground).

``all_background_accuracy`` is chance for the accuracy: the share of background pixels.
"""

import numpy as np

from ocg_jax.analysis.colour_rules import RULES
from ocg_jax.analysis.inference import batches, infer_split
from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics.foreground import all_region_scores, best_region_scores


def foreground_evaluation(
    run: Run, scores: dict, eval_batch, batch_size: int, seed: int, progress: bool
) -> dict:
    """Both protocols on the evaluated images' per-image ``scores`` (the family's
    ``iou``, ``accuracy`` and ``iou_region_k`` / ``accuracy_region_k``)."""
    if "iou" not in scores:
        return {"note": "the split has no ground-truth masks"}
    data = run.config.data
    val = load_source(data.name, data.config, "validation", run.data_dir, prepare=False)
    n_val = min(len(val), 500)
    val_scores, _, _ = infer_split(run, eval_batch, val, n_val, batch_size, seed, "validation",
                                   progress)  # fmt: skip
    regions = sorted(int(k.rsplit("_", 1)[1]) for k in scores if k.startswith("iou_region_"))
    val_iou = [float(np.mean(val_scores[f"iou_region_{k}"])) for k in regions]
    region = regions[int(np.argmax(val_iou))]
    n = len(scores["iou"])
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
        "all_background_accuracy": all_background(run, n),
    }


def all_background(run: Run, num: int, split: str = "test") -> float:
    """The accuracy of calling every pixel background on the first ``num`` images."""
    data = run.config.data
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    mask = load_examples(source, num, ["mask"])["mask"]
    return float(np.mean(mask == 0))


def rule_scores(foreground: np.ndarray, truth: np.ndarray) -> dict:
    """``{protocol: {"accuracy", "iou"}}`` of boolean ``foreground [B, H, W]``: its
    foreground fixed as the foreground, or per image the better of it and its complement."""
    masks = np.stack([foreground, ~foreground], axis=1).astype(np.float32)  # [B, 2, H, W]
    accuracy, iou = (np.asarray(a) for a in all_region_scores(masks, truth))
    best = {k: float(np.mean(v)) for k, v in best_region_scores(masks, truth).items()}
    return {
        "best_region_per_image": best,
        "fixed_region": {"accuracy": float(accuracy[:, 0].mean()), "iou": float(iou[:, 0].mean())},
    }


def colour_rule_evaluation(source, num: int, progress: bool = False) -> dict:
    """Each colour rule on the first ``num`` images of ``source``, scored as the model."""
    found = {name: [] for name in RULES}
    truths = []
    for start in batches(num, 256, "colour rules", progress):
        ex = load_examples(source, min(256, num - start), ["image", "mask"], start, True)
        if "mask" not in ex:
            return {"note": "the split has no ground-truth masks"}
        truths.append(ex["mask"])
        for name, rule in RULES.items():
            found[name].append(rule(ex["image"]))
    truth = np.concatenate(truths)
    return {name: rule_scores(np.concatenate(fg), truth) for name, fg in found.items()}


def colour_rules_table(configs: list[str], num_images: int, data_dir: str | None = None) -> str:
    """Markdown: a row per ``fg_bg`` config (generated if missing), two columns per rule:
    its test IoU on the first ``num_images``, best region / fixed region."""
    head = ["data", "test images"] + [f"{r}, best region / fixed region" for r in RULES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config in configs:
        source = load_source("fg_bg", config, "test", data_dir)
        num = min(num_images, len(source))
        scores = colour_rule_evaluation(source, num)
        cells = [
            f"{s['best_region_per_image']['iou']:.3f} / {s['fixed_region']['iou']:.3f}"
            for s in (scores[r] for r in RULES)
        ]
        lines.append(f"| `{config}` | {num} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
