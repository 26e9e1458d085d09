"""Segment statistics of a run: which classes of object it under- or over-generates.

Training images and the run's prior samples are segmented by the dataset's fixed
segmenter (``ocg_jax.analysis.segmenter``); their class areas give the Fréchet
Segmentation Distance, with a floor from two disjoint sets of real images of the
same size (held out from the segmenter's training, as it reads its own training
images better than anything new), and per-class mean areas with their relative
change (Bau et al. 2019).  ``segment_statistics`` is the pure part (areas in, report out), used by
``run_segment_stats`` and by tests that plant an omission.
"""

import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ocg_jax.metrics.segment_stats import class_area_change, frechet_segmentation_distance
from ocg_jax.viz.latents import figure_array


def segment_statistics(real_a, real_b, generated, classes) -> dict:
    """Areas ``[N, C]`` (percent) of two disjoint real sets and of generated images ->
    ``{"fsd": {fsd, mean_term, covariance_term}, "floor": {...}, "empty_scenes": {...},
    "classes": [...]}``: FSD of ``real_a`` vs ``generated``, the floor ``real_a`` vs
    ``real_b``, the trivial generator that draws no object (every pixel class 0,
    the background), and per class (largest real area first) both mean areas and the
    relative change."""
    empty = np.zeros_like(np.asarray(generated, np.float64))
    empty[:, 0] = 100.0
    return {
        "fsd": frechet_segmentation_distance(real_a, generated),
        "floor": frechet_segmentation_distance(real_a, real_b),
        "empty_scenes": frechet_segmentation_distance(real_a, empty),
        "classes": class_area_change(real_a, generated, classes),
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
        f"{fsd['covariance_term']:.3f}); real-vs-real floor {floor['fsd']:.3f}; "
        f"scenes with no object {report['empty_scenes']['fsd']:.3f}",
    ]
    for r in report["classes"]:
        change = "n/a" if r["relative_change"] is None else f"{r['relative_change']:+.1%}"
        lines.append(
            f"  {r['class']:<12} real {r['real_area']:6.2f}%  generated "
            f"{r['generated_area']:6.2f}%  {change}"
        )
    drop = largest_drop(report)
    lines.append(f"most under-generated: {drop['class']} ({drop['relative_change']:+.1%})")
    return "\n".join(lines)


def histogram_figure(stats: dict, title: str = "", max_classes: int = 30) -> np.ndarray:
    """uint8 ``[H, W, 3]``, laid out as Bau et al.'s figures: objects only (the background,
    class 0, left out), most frequent first; above, the real mean area as bars and the
    generated one as a red line on a log scale; below, the relative change
    ``(generated - real) / real`` as bars clipped to [-1, 1.1], larger values written."""
    rows = [r for r in stats["classes"] if r["class"] != "background" and r["real_area"] > 0]
    rows = rows[:max_classes]
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(3.0, 0.45 * len(rows) + 1.6), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    areas, changes = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 2]}, sharex=True)
    real = np.array([r["real_area"] for r in rows])
    gen = np.array([r["generated_area"] for r in rows])
    top = max(float(real.max(initial=0.0)), float(gen.max(initial=0.0)), 1e-3)
    areas.bar(x, real, color="tab:blue", label="real")
    areas.plot(x, np.maximum(gen, top / 5000), color="red", linewidth=2.5, label="generated")
    areas.set_yscale("log")
    areas.set_ylim(top / 5000, 2 * top)
    areas.set_ylabel("mean area %\n(log scale)", fontsize=8)
    areas.legend(fontsize=7)
    change = np.array([r["relative_change"] for r in rows], np.float64)
    changes.bar(x, np.clip(change, -1.0, 1.1), color=np.where(change < 0, "tab:red", "tab:blue"))
    for i in np.flatnonzero(change > 1.1):
        changes.text(i, 1.12, f"{change[i]:.1f}", ha="center", fontsize=7)
    changes.set_ylim(-1.0, 1.3)
    changes.axhline(0.0, color="black", linewidth=0.5)
    changes.grid(axis="y", alpha=0.25)
    changes.set_ylabel("relative change\n(gen - real) / real", fontsize=8)
    changes.set_xticks(x, [r["class"] for r in rows], rotation=90, fontsize=8)
    changes.set_xlim(-1.0, len(rows))
    fsd, floor = stats["fsd"]["fsd"], stats["floor"]["fsd"]
    empty = stats["empty_scenes"]["fsd"]
    label = f"{title}\nFSD {fsd:.2f} (floor {floor:.2f}, no objects {empty:.2f})"
    areas.set_title(label.strip(), fontsize=8)  # two lines: a 3-class figure is 3 in wide
    fig.tight_layout()
    return figure_array(fig)


def held_out_images(data, data_dir, segmenter_train_images: int, wanted: int):
    """Up to ``wanted`` images ``[N, H, W, C]`` (uint8) that the segmenter never trained on:
    the validation and test splits, then the training images after its first
    ``segmenter_train_images``; and ``{"sources": ["test[0:1000]", ...], ...}`` naming them.
    A segmenter scores its own training images better than new ones, so a reference
    drawn from them would make every generator look further off than it is."""
    from ocg_jax.data.pipeline import load_examples, load_source

    parts, sources = [], []
    for split, start in (("validation", 0), ("test", 0), ("train", segmenter_train_images)):
        missing = wanted - sum(len(p) for p in parts)
        try:
            source = load_source(data.name, data.config, split, data_dir)
        except ValueError:  # the dataset has no such split
            continue
        n = min(missing, len(source) - start)
        if n > 0:
            parts.append(load_examples(source, n, ["image"], start)["image"])
            sources.append(f"{split}[{start}:{start + n}]")
    reference = {"sources": sources, "segmenter_train_images": segmenter_train_images}
    return np.concatenate(parts), reference


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
    sample): ``2 * num_images`` real images the segmenter never saw (two disjoint sets:
    the reference and the floor's, ``held_out_images``) and ``num_images`` prior
    samples.  Writes ``segment_stats.json`` and ``segment_stats.png`` in ``out_dir``
    (default: the run's directory) and returns the report."""
    from ocg_jax.analysis.inference import sample_images
    from ocg_jax.analysis.segmenter import scene_segmenter
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
    spec = run.model.input_spec
    images, reference = held_out_images(data, run.data_dir, seg.train_images, 2 * num_images)
    notes = []
    if len(images) < 2 * num_images:
        notes.append(
            f"{num_images} images a set is more than half of the {len(images)} images the "
            f"segmenter never saw; using {len(images) // 2}"
        )
        num_images = len(images) // 2
    real = spec.to_unit(spec.preprocess(images[: 2 * num_images]))
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
        "reference": reference,
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
