"""Segment statistics of a run: which classes of object it under- or over-generates.

Training images and the run's prior samples are segmented by the dataset's fixed
segmenter (``ocg_jax.analysis.segmenter``); their class areas give the Fréchet
Segmentation Distance, with a floor from two disjoint sets of training images of
the same size, and per-class mean areas with their relative change (Bau et al.
2019).  ``segment_statistics`` is the pure part (areas in, report out), used by
``run_segment_stats`` and by tests that plant an omission.
"""

import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ocg_jax.metrics.segment_stats import class_area_change, frechet_segmentation_distance
from ocg_jax.viz.latents import figure_array


def segment_statistics(train_a, train_b, generated, classes) -> dict:
    """Areas ``[N, C]`` (percent) of two disjoint training sets and of generated images ->
    ``{"fsd": {fsd, mean_term, covariance_term}, "floor": {...}, "classes": [...]}``:
    FSD of ``train_a`` vs ``generated``, the floor ``train_a`` vs ``train_b``, and per
    class (largest training area first) both mean areas and the relative change."""
    return {
        "fsd": frechet_segmentation_distance(train_a, generated),
        "floor": frechet_segmentation_distance(train_a, train_b),
        "classes": class_area_change(train_a, generated, classes),
    }


def largest_drop(stats: dict) -> dict:
    """The class whose relative change is most negative."""
    rows = [r for r in stats["classes"] if r["relative_change"] is not None]
    return min(rows, key=lambda r: r["relative_change"])


def format_report(report: dict) -> str:
    """The lines ``experiments.segment_stats`` prints."""
    seg, fsd, floor = report["segmenter"], report["fsd"], report["floor"]
    lines = [
        f"segmenter: pixel accuracy {seg['pixel_accuracy']:.3f}, mean IoU {seg['mean_iou']:.3f}",
        f"FSD {fsd['fsd']:.3f} (mean {fsd['mean_term']:.3f} + covariance "
        f"{fsd['covariance_term']:.3f}); training-vs-training floor {floor['fsd']:.3f}",
    ]
    for r in report["classes"]:
        change = "n/a" if r["relative_change"] is None else f"{r['relative_change']:+.1%}"
        lines.append(
            f"  {r['class']:<12} train {r['train_area']:6.2f}%  generated "
            f"{r['generated_area']:6.2f}%  {change}"
        )
    drop = largest_drop(report)
    lines.append(f"most under-generated: {drop['class']} ({drop['relative_change']:+.1%})")
    return "\n".join(lines)


def histogram_figure(stats: dict, title: str = "", max_classes: int = 20) -> np.ndarray:
    """uint8 ``[H, W, 3]``: mean area per class (most frequent first), training vs
    generated, the relative change written above each pair (red when negative)."""
    rows = stats["classes"][:max_classes]
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(4.0, 0.6 * len(rows) + 1.5), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    train = [r["train_area"] for r in rows]
    gen = [r["generated_area"] for r in rows]
    ax.bar(x - 0.2, train, 0.4, label="training", color="tab:blue")
    ax.bar(x + 0.2, gen, 0.4, label="generated", color="tab:orange")
    top = max(train + gen + [1e-9])
    for i, r in enumerate(rows):
        change = r["relative_change"]
        if change is not None:
            colour = "tab:red" if change < 0 else "black"
            ax.text(i, 1.02 * top, f"{change:+.0%}", ha="center", fontsize=7, color=colour)
    ax.set_xticks(x, [r["class"] for r in rows], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.15 * top)
    ax.set_ylabel("mean area (% of pixels)")
    fsd, floor = stats["fsd"]["fsd"], stats["floor"]["fsd"]
    ax.set_title(f"{title}  FSD {fsd:.2f} (floor {floor:.2f})".strip(), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure_array(fig)


def run_segment_stats(
    run,
    num_images: int = 2000,
    batch_size: int = 64,
    seed: int = 0,
    segmenter_steps: int | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Segment statistics of ``run`` (an ``ocg_jax.analysis.runs.Run`` whose family can
    sample): ``2 * num_images`` training images (two disjoint sets) and ``num_images``
    prior samples.  Writes ``segment_stats.json`` and ``segment_stats.png`` in
    ``out_dir`` (default: the run's directory) and returns the report."""
    from ocg_jax.analysis.inference import sample_images
    from ocg_jax.analysis.segmenter import scene_segmenter
    from ocg_jax.data.pipeline import load_examples, load_source
    from ocg_jax.metrics.segment_stats import class_areas
    from ocg_jax.viz import save_png

    if num_images < 2:
        raise ValueError(f"num_images must be >= 2 (a covariance needs two), got {num_images}")
    if not run.model.samples:
        raise ValueError(
            f"the {run.model.name!r} family does not sample from a prior, so it has no "
            "generated images to segment"
        )
    data = run.config.data
    seg = scene_segmenter(
        data.name, data.config, run.data_dir, steps=segmenter_steps, progress=progress
    )
    train = load_source(data.name, data.config, "train", run.data_dir)
    notes = []
    if 2 * num_images > len(train):
        notes.append(
            f"{num_images} images a set is more than half of the {len(train)} "
            f"training images; using {len(train) // 2}"
        )
        num_images = len(train) // 2
    spec = run.model.input_spec
    real = spec.to_unit(spec.preprocess(load_examples(train, 2 * num_images, ["image"])["image"]))
    areas = lambda images: class_areas(seg(images, batch_size), len(seg.classes))
    real_areas = areas(real)
    gen = sample_images(run, num_images, batch_size, seed, progress)
    stats = segment_statistics(
        real_areas[:num_images], real_areas[num_images:], areas(gen), seg.classes
    )
    report = {
        "workdir": str(run.workdir),
        "model": run.model.name,
        "step": run.step,
        "dataset": f"{data.name}/{data.config}",
        "num_images": num_images,
        "segmenter": {"name": seg.name, **seg.test_scores},
        **stats,
        "notes": notes,
    }
    out = Path(out_dir) if out_dir else Path(run.workdir)
    out.mkdir(parents=True, exist_ok=True)
    report["out_dir"] = str(out)
    (out / "segment_stats.json").write_text(json.dumps(report, indent=2))
    save_png(
        histogram_figure(stats, f"{run.model.name} step {run.step}"), out / "segment_stats.png", 1
    )
    return report
