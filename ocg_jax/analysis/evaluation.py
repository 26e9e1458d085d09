"""Evaluate a trained run: what its family declares (``ocg_jax.analysis.evaluators``).

run = load_run("runs/genesis")
result = evaluate_run(run, num_images=320)   # what experiments.evaluate writes to eval.json
print(format_table(result))
"""

import sys

from ocg_jax.analysis.evaluators import EVALUATORS, EXTRACTORS, Evaluation, declared, probe_sizes
from ocg_jax.analysis.inference import infer_split, make_eval_batch
from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_source


def evaluate_run(
    run: Run,
    *,
    split: str = "test",
    num_images: int = 320,
    batch_size: int = 32,
    fd_images: int = 1000,
    fd_samples: int = 1000,
    extractor: str = "scene_net",
    inception_weights: str | None = None,
    feature_net_steps: int | None = None,
    probe_train_images: int = 1000,
    probe_test_images: int = 500,
    probe_features: str = "sample",
    disentanglement_images: int = 10_000,
    dci_images: int = 2_000,
    iw_samples: int = 100,
    iw_images: int = 500,
    evaluators: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Everything ``eval.json`` holds for ``run``: each evaluator's report under its name.

    ``evaluators``: comma-separated names (default: the config's ``evaluators``, else the
    family's).  ``fd_images`` / ``fd_samples`` = 0 skips the Fréchet distance,
    ``probe_train_images`` = 0 the probes.  The paper uses 320 images for segmentation and
    10,000 / 10,000 for FID.  Sizes larger than their split are cut to it, with a note
    (printed with ``progress``, and in the result's ``notes``).  ``probe_features``:
    ``"sample"`` (the original's) or ``"mean"``.  ``iw_samples`` importance samples give
    log p(x) of ``iw_images`` images (families that report it); DCI's trees fit the first
    ``dci_images`` codes of the disentanglement set.
    """
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {extractor!r}; known: {EXTRACTORS}")
    if fd_images and fd_samples and extractor == "inception" and not inception_weights:
        raise ValueError("the inception extractor needs inception_weights=FILE (see README)")
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    names = declared(run, evaluators)
    for line in run.skipped if progress else ():  # which checkpoint this is, if not the newest
        print(f"warning: {line}; evaluating checkpoint {run.step}", file=sys.stderr, flush=True)
    data = run.config.data
    load = lambda name: load_source(data.name, data.config, name, run.data_dir, prepare=False)
    source, train = load(split), load("train")
    options = dict(
        fd_images=fd_images, fd_samples=fd_samples, extractor=extractor,
        inception_weights=inception_weights, feature_net_steps=feature_net_steps,
        probe_train_images=probe_train_images, probe_test_images=probe_test_images,
        probe_features=probe_features, disentanglement_images=disentanglement_images,
        dci_images=dci_images, iw_samples=iw_samples, iw_images=iw_images,
    )  # fmt: skip
    ev = Evaluation(run, split, source, train, 0, batch_size, seed, progress, options,
                    make_eval_batch(run, probe_features))  # fmt: skip
    ev.num_images = ev.clip("num_images", num_images, source, split)
    # one pass over the split: its first num_images give the scores, the probes' test set
    # is its first probe_test_images
    first = max(ev.num_images, probe_sizes(ev)[1] if "probes" in names else 0)
    ev.scores, ev.features, ev.inputs = infer_split(run, ev.eval_batch, source, first,
                                                    batch_size, seed, split, progress)  # fmt: skip
    result = {
        "workdir": str(run.workdir),
        "model": run.model.name,
        "step": run.step,
        "seed": run.config.seed,
        "dataset": f"{data.name}/{data.config}",
        "split": split,
        "num_images": ev.num_images,
        "evaluators": list(names),
    }
    for name in names:
        report = EVALUATORS[name](ev)
        if name == "scores":
            result.update(report)
        elif report is not None:
            result[name] = report
    skipped = [f"{line}; evaluated checkpoint {run.step}" for line in run.skipped]
    result["notes"] = skipped + ev.notes  # the evaluators' notes too
    return result


def _frechet_lines(fd: dict) -> list[str]:
    return [
        f"{'fd test vs samples':<28}{fd['test_vs_samples']:>12.3f}  ({fd['extractor']})",
        f"{'fd test vs train (floor)':<28}{fd['test_vs_train']:>12.3f}",
    ]


def _counting_lines(counting: dict) -> list[str]:
    lines = []
    for name, c in counting.items():
        boxes = f"box IoU {c['box_iou']:.3f}" if c["box_iou"] is not None else "no box inferred"
        lines += [
            f"{'count accuracy ' + name:<28}{c['count_accuracy']:>12.4f}  ({boxes}, "
            f"{c['num_images']} images)",
            f"{'  one sample of q':<28}{c['count_accuracy_sampled']:>12.4f}  (chance: "
            f"{c['count_accuracy_majority']:.4f}, the most common count)",
            f"{'  confusion (true x pred)':<28}{c['count_confusion']}",
        ]
    return lines


def _foreground_lines(fg: dict, colour_rules: dict) -> list[str]:
    lines = []
    rows = [("model", fg)] + [(f"rule {k}", v) for k, v in colour_rules.items()]
    for who, report in rows:
        for protocol in ("best_region_per_image", "fixed_region"):
            if protocol in report:
                r = report[protocol]
                lines.append(f"{'fg ' + protocol:<28}  accuracy {r['accuracy']:.4f}  "
                             f"IoU {r['iou']:.4f}  ({who})")  # fmt: skip
    if "all_background_accuracy" in fg:
        lines.append(f"{'  chance accuracy':<28}{fg['all_background_accuracy']:>12.4f}  "
                     "(every pixel background)")  # fmt: skip
    return lines


def _collapse_lines(c: dict) -> list[str]:
    return [
        f"{'collapse':<28}  restarts {c['restarts']}, flagged {c['flagged']}, collapsed now "
        f"{c['collapsed']} (an area outside [{c['threshold']:g}, {1 - c['threshold']:g}])"
    ]


def _disentanglement_lines(d: dict) -> list[str]:
    """A line per score, with the score of N(0, I) codes beside it where there is one."""
    chance = d.get("chance", {})
    lines = [f"{'disentanglement':<28}{'codes':>12}{'chance':>12}"] if chance else []
    for k, v in d.items():
        if k in ("protocols", "chance"):
            continue
        value = f"{v:>12.4f}" if isinstance(v, float) else f"{v:>12}"
        lines.append(f"{k:<28}{value}" + (f"{chance[k]:>12.4f}" if k in chance else ""))
    return lines + [f"  {k}: {v}" for k, v in d.get("protocols", {}).items()]


def _probe_lines(p: dict) -> list[str]:
    lines = [f"{'probe accuracy':<28}{'features':>12}{'pixels':>12}{'majority':>10}"
             f"   (features: {p['features']})"]  # fmt: skip
    for label, row in p["latents"].items():
        px = p["pixels"][label]
        for kind in ("logistic", "mlp"):
            lines.append(f"{label + ' ' + kind:<28}{row[kind]:>12.3f}{px[kind]:>12.3f}"
                         f"{row['majority']:>10.3f}")  # fmt: skip
    return lines


def format_table(result: dict) -> str:
    """A plain-text table of ``evaluate_run``'s result."""
    lines = [
        f"{result['model']} at step {result['step']} on {result['dataset']} "
        f"({result['split']}, {result['num_images']} images)",
        f"{'metric':<28}{'mean':>12}{'std':>12}",
    ]
    for k, v in result["metrics"].items():
        lines.append(f"{k:<28}{v:>12.4f}{result['metrics_std'][k]:>12.4f}")
    if "frechet" in result:
        lines += _frechet_lines(result["frechet"])
    lines += _counting_lines(result.get("counting", {}))
    if "foreground" in result:
        lines += _foreground_lines(result["foreground"], result.get("colour_rules", {}))
    if "collapse" in result:
        lines += _collapse_lines(result["collapse"])
    lines += _disentanglement_lines(result.get("disentanglement", {}))
    if "log_likelihood" in result:
        ll = result["log_likelihood"]
        lines.append(f"{'log p(x), importance':<28}{ll['log_likelihood']:>12.3f}"
                     f"{ll['log_likelihood_std']:>12.3f}  ({ll['importance_samples']} samples, "
                     f"{ll['num_images']} images)")  # fmt: skip
    if "probes" in result:
        lines += _probe_lines(result["probes"])
    return "\n".join(lines)
