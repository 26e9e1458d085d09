"""Collect ``eval.json`` files of several runs into a mean ± std table (Markdown and CSV).

Runs are grouped by their configuration with the seed left out, so several seeds of
one config form one row.  Columns are every metric found: the ``metrics`` block,
the Fréchet distance, the Fréchet Segmentation Distance (from the run's
``segment_stats.json`` when ``experiments.segment_stats`` wrote one), counting
(accuracy and box IoU per split), the probes' accuracies (latents, logistic and MLP), and
for runs watched for collapse (ReDO) the ``restarts`` made and whether the model is
``collapsed`` (1 or 0: the mean over seeds is the share that collapsed).
"""

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np

_IGNORED = {"seed", "data_dir"}


def _config_key(workdir: Path) -> str:
    cfg = (
        json.loads((workdir / "config.json").read_text())
        if (workdir / "config.json").exists()
        else {}
    )
    cfg = {k: v for k, v in cfg.items() if k not in _IGNORED}
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:6]


def flat_metrics(result: dict) -> dict[str, float]:
    """One ``eval.json`` as ``{column: value}``."""
    row = dict(result["metrics"])
    if "frechet" in result:
        row["fd"] = result["frechet"]["test_vs_samples"]
    if "segment_stats" in result:
        row["fsd"] = result["segment_stats"]["fsd"]["fsd"]
    for split, c in result.get("counting", {}).items():
        row[f"count_acc_{split}"] = c["count_accuracy"]
        if "count_accuracy_sampled" in c:
            row[f"count_acc_sampled_{split}"] = c["count_accuracy_sampled"]
        if c["box_iou"] is not None:
            row[f"box_iou_{split}"] = c["box_iou"]
    for protocol, fg in result.get("foreground", {}).items():
        if isinstance(fg, dict):
            row[f"fg_acc_{protocol}"], row[f"fg_iou_{protocol}"] = fg["accuracy"], fg["iou"]
    if "collapse" in result:  # 1 / 0 per seed: the mean over seeds is the share
        row["restarts"] = float(result["collapse"]["restarts"])
        row["collapsed"] = float(result["collapse"]["collapsed"])
    for name, value in result.get("disentanglement", {}).items():
        if isinstance(value, float):
            row[name] = value
    for name, value in result.get("disentanglement", {}).get("chance", {}).items():
        row[f"chance_{name}"] = value  # the same score of N(0, I) codes
    for label, accs in result.get("probes", {}).get("latents", {}).items():
        for kind in ("logistic", "mlp"):
            row[f"probe_{label}_{kind}"] = accs[kind]
    return row


def load_results(dirs) -> list[dict]:
    """``eval.json`` of each run directory (or the file itself), with its config key."""
    results = []
    for d in map(Path, dirs):
        path = d if d.suffix == ".json" else d / "eval.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; run experiments.evaluate on {path.parent}")
        result = json.loads(path.read_text())
        if (path.parent / "segment_stats.json").exists():
            result["segment_stats"] = json.loads((path.parent / "segment_stats.json").read_text())
        result["_key"] = _config_key(path.parent)
        results.append(result)
    return results


def summarise(results: list[dict]) -> tuple[list[str], list[dict]]:
    """``(columns, rows)``; a row per config: group, seeds, and ``(mean, std)`` per column."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["model"], r["dataset"], r["_key"]), []).append(r)
    names = {}
    for model, dataset, key in groups:
        same = [g for g in groups if g[:2] == (model, dataset)]
        names[(model, dataset, key)] = f"{model} {dataset}" + (f" [{key}]" if len(same) > 1 else "")
    columns: list[str] = []
    for r in results:
        columns += [c for c in flat_metrics(r) if c not in columns]
    rows = []
    for g, members in groups.items():
        flats = [flat_metrics(m) for m in members]
        row = {"group": names[g], "seeds": sorted(m["seed"] for m in members)}
        for c in columns:
            vals = [f[c] for f in flats if c in f]
            row[c] = (float(np.mean(vals)), float(np.std(vals))) if vals else None
        rows.append(row)
    return columns, rows


def to_markdown(columns, rows) -> str:
    head = "| run | seeds | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for row in rows:
        cells = ["" if row[c] is None else f"{row[c][0]:.4g} ± {row[c][1]:.2g}" for c in columns]
        seeds = ",".join(map(str, row["seeds"]))
        lines.append(f"| {row['group']} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_run_markdown(results: list[dict]) -> str:
    """A row per run (seed, step, then every column of ``flat_metrics``), unaveraged."""
    flats = [flat_metrics(r) for r in results]
    columns = list(dict.fromkeys(c for f in flats for c in f))
    lines = ["| seed | step | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    for r, f in zip(results, flats, strict=True):
        cells = [f"{f[c]:.4g}" if c in f else "" for c in columns]
        lines.append(f"| {r['seed']} | {r['step']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(columns, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run", "num_seeds", *[f"{c}_{s}" for c in columns for s in ("mean", "std")]])
    for row in rows:
        vals = []
        for c in columns:
            vals += ["", ""] if row[c] is None else [f"{row[c][0]:.6g}", f"{row[c][1]:.6g}"]
        w.writerow([row["group"], len(row["seeds"]), *vals])
    return buf.getvalue()


SIDE_BY_SIDE = ("nll", "ari_fg", "sc_fg", "msc_fg", "fd", "probe", "step_ms")


def _side_by_side_row(result: dict) -> dict[str, float]:
    m = result["metrics"]
    row = {k: m[k] for k in ("nll", "ari_fg", "sc_fg", "msc_fg") if k in m}
    if "frechet" in result:
        row["fd"] = result["frechet"]["test_vs_samples"]
    if "segment_stats" in result:
        row["fsd"] = result["segment_stats"]["fsd"]["fsd"]
    latents = result.get("probes", {}).get("latents", {})
    if latents:  # mean over labels of the logistic probe on the latents
        row["probe"] = float(np.mean([acc["logistic"] for acc in latents.values()]))
    row["step_ms"] = result["timing"]["train_step_ms_median"]
    return row


def side_by_side(results: dict) -> str:
    """Markdown for ``{(dataset, model): [eval.json of each seed, with "timing"]}``: a row per
    (dataset, model), mean ± std over seeds of ``SIDE_BY_SIDE`` (probe: the mean over labels of
    the logistic probe on the latents; step_ms: the median train step)."""
    head = "| dataset | model | seeds | " + " | ".join(SIDE_BY_SIDE) + " |"
    lines = [head, "|" + "---|" * (len(SIDE_BY_SIDE) + 3)]
    for (dataset, model), runs in results.items():
        flats = [_side_by_side_row(r) for r in runs]
        cells = []
        for c in SIDE_BY_SIDE:
            vals = [f[c] for f in flats if c in f]
            cells.append(f"{np.mean(vals):.4g} ± {np.std(vals):.2g}" if vals else "n/a")
        seeds = ",".join(str(r["seed"]) for r in runs)
        lines.append(f"| {dataset} | {model} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
