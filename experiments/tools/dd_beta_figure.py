r"""The paper's dSprites figure: disentanglement against beta, one line per prior, over seeds.

    python -m experiments.tools.dd_beta_figure runs/dd_sweep/*/seed_* \
        [--out=docs/figures/dd_score_vs_beta_amsgrad_torch] \
        [--records=docs/figures/dd_score_vs_beta_amsgrad_torch.jsonl]

Reads each run's ``config.json`` (prior and beta) and ``eval.json`` (from
``experiments.evaluate --evaluators=scores,disentanglement``), and writes ``OUT.md`` (a
row per run, then mean ± std per prior and beta, and of the codes drawn from N(0, I)
that ``evaluate`` scores beside each run) and ``OUT.png`` (the score of Mathieu et al.,
Kim & Mnih's accuracy, MIG and DCI disentanglement against beta: mean, with the std over
seeds as bars and each seed as a dot; N(0, I) codes dashed).  Prints the Markdown.

A sweep outlives its run directories through ``--records``: a JSON line per run, read
first where the file exists, joined by the runs given (a run replaces the record of the
same optimiser, prior, beta and seed) and written back, so a sweep can span sessions and
machines.  Records of different optimisers are not pooled: give each sweep its own file.
"""

import json
from pathlib import Path

import numpy as np
from absl import flags

from experiments import cli

_OUT = flags.DEFINE_string("out", None, "prefix for the .md and .png files (None: print only)")
_RECORDS = flags.DEFINE_string("records", None, "JSON lines of runs, read and updated")

#: (eval.json ``disentanglement`` key, column / panel title)
METRICS = (
    ("disentanglement_score", "score (Mathieu et al.)"),
    ("factor_vae_eval_accuracy", "Kim & Mnih accuracy"),
    ("mig", "MIG"),
    ("dci_disentanglement", "DCI disentanglement"),
)


def load_sweep(dirs) -> list[dict]:
    """A record per run: ``prior``, ``beta``, ``alpha``, ``seed``, ``step``, ``elbo`` and the
    ``METRICS``; raises naming the run whose evaluation lacks them."""
    records = []
    for d in map(Path, dirs):
        for name in ("config.json", "eval.json"):
            if not (d / name).exists():
                raise FileNotFoundError(f"{d / name} not found: train and evaluate {d} first")
        cfg = json.loads((d / "config.json").read_text())
        ev = json.loads((d / "eval.json").read_text())
        dis = ev.get("disentanglement")
        if not dis:
            fix = f"experiments.evaluate --workdir={d} --evaluators=scores,disentanglement"
            raise ValueError(f"{d}/eval.json has no disentanglement scores: run {fix}")
        records.append({
            "optimiser": cfg["optim"]["name"], "workdir": str(d),
            "prior": cfg["model"]["prior"]["name"], "beta": float(cfg["beta"]),
            "alpha": float(cfg.get("alpha", 0.0)), "seed": cfg["seed"], "step": ev["step"],
            "elbo": ev["metrics"]["elbo"], **{k: dis[k] for k, _ in METRICS},
            "chance": dis.get("chance", {}),
        })  # fmt: skip
    return sorted(records, key=_cell_order)


def _cell_order(r: dict) -> tuple:
    return r["prior"], r["beta"], r["seed"]


def _key(r: dict) -> tuple:
    return r["optimiser"], *_cell_order(r)


def one_optimiser(records: list[dict], where: str) -> None:
    """Raise unless every record trained with one optimiser (a sweep pools seeds, not those)."""
    optimisers = sorted({r["optimiser"] for r in records})
    if len(optimisers) > 1:
        raise ValueError(f"{where} mixes the optimisers {optimisers}: one sweep at a time")


def merge_records(path: Path, records: list[dict]) -> list[dict]:
    """The records in the JSON-lines file ``path`` (if it exists) joined by ``records`` (which
    replace those of the same optimiser, prior, beta and seed); writes the union back."""
    kept = {}
    if path.exists():
        for i, line in enumerate(path.read_text().splitlines()):
            try:
                r = json.loads(line)
                kept[_key(r)] = r
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path} line {i + 1} is not a run record ({e!r})") from None
    kept.update({_key(r): r for r in records})
    out = sorted(kept.values(), key=_cell_order)
    one_optimiser(out, str(path))
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in out))
    return out


def cells(records: list[dict]) -> dict[tuple[str, float], list[dict]]:
    """``{(prior, beta): [records over seeds]}``, sorted."""
    out: dict = {}
    for r in records:
        out.setdefault((r["prior"], r["beta"]), []).append(r)
    return dict(sorted(out.items()))


def to_markdown(records: list[dict]) -> str:
    names = ["elbo"] + [k for k, _ in METRICS]
    titles = ["ELBO"] + [t for _, t in METRICS]
    head = "| prior | beta | seed | step | " + " | ".join(titles) + " |\n"
    rule = "|" + "---|" * (len(names) + 4) + "\n"
    runs = "".join(
        f"| {r['prior']} | {r['beta']:g} | {r['seed']} | {r['step']} | "
        + " | ".join(f"{r[n]:.3f}" for n in names) + " |\n"
        for r in records
    )  # fmt: skip
    means = ""
    for (prior, beta), group in cells(records).items():
        stats = [(np.mean([g[n] for g in group]), np.std([g[n] for g in group])) for n in names]
        seeds = ",".join(str(g["seed"]) for g in group)
        means += (f"| {prior} | {beta:g} | {seeds} | | "
                  + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in stats) + " |\n")  # fmt: skip
    chance, n = chance_levels(records), len(_chance_draws(records))
    if chance:
        means += (f"| N(0, I) codes | | {n} draw{'s' * (n > 1)} | | | "
                  + " | ".join(f"{chance[k][0]:.3f} ± {chance[k][1]:.3f}" if k in chance else ""
                               for k in names[1:]) + " |\n")  # fmt: skip
    return head + rule + runs + "\n" + head.replace("seed", "seeds") + rule + means


def _chance_draws(records: list[dict]) -> list[dict]:
    """The runs' distinct ``chance`` blocks (evaluations with one seed draw the same codes)."""
    unique = {json.dumps(r["chance"], sort_keys=True) for r in records if r["chance"]}
    return [json.loads(u) for u in sorted(unique)]


def chance_levels(records: list[dict]) -> dict[str, tuple[float, float]]:
    """``{metric: (mean, std)}`` over the distinct ``chance`` blocks (codes drawn from
    N(0, I), scored as the run's codes); empty where no evaluation has one."""
    draws = _chance_draws(records)
    keys = [k for k, _ in METRICS if draws and all(k in d for d in draws)]
    return {k: (float(np.mean([d[k] for d in draws])), float(np.std([d[k] for d in draws])))
            for k in keys}  # fmt: skip


def figure(records: list[dict]) -> np.ndarray:
    """uint8 ``[H, W, 3]``: a panel per metric, a line per prior (mean ± std over seeds)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ocg_jax.viz.latents import figure_array

    fig = Figure(figsize=(3.2 * len(METRICS), 3.0), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(METRICS))
    by_prior, chance = {}, chance_levels(records)
    for (prior, beta), group in cells(records).items():
        by_prior.setdefault(prior, []).append((beta, group))
    for ax, (key, title) in zip(axes, METRICS, strict=True):
        for i, (prior, points) in enumerate(by_prior.items()):
            betas = np.array([b for b, _ in points])
            vals = [np.array([g[key] for g in group]) for _, group in points]
            shift = betas * (1 + 0.04 * (i - 0.5))  # side by side on the log axis
            ax.errorbar(shift, [v.mean() for v in vals], yerr=[v.std() for v in vals],
                        marker="o", capsize=3, label=prior)  # fmt: skip
            for x, v in zip(shift, vals, strict=True):
                ax.scatter(np.full(len(v), x), v, s=8, color=ax.lines[-1].get_color(), alpha=0.5)
        if key in chance:
            ax.axhline(chance[key][0], color="grey", linestyle="--", linewidth=1, label="N(0, I)")
        ax.set_xscale("log", base=2)
        ticks = sorted({b for _, b in cells(records)})
        ax.set_xticks(ticks, [f"{b:g}" for b in ticks])
        ax.minorticks_off()
        ax.set_xlabel("beta")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return figure_array(fig)


def main(argv):
    if len(argv) < 2 and not _RECORDS.value:
        raise cli.UsageError("give the run directories, e.g. runs/dd_sweep/*/seed_*")
    from ocg_jax import viz

    records = load_sweep(argv[1:])
    one_optimiser(records, "the runs given")
    if _RECORDS.value:
        records = merge_records(Path(_RECORDS.value), records)
    if not records:
        raise cli.UsageError(f"{_RECORDS.value} holds no runs: give the run directories")
    text = to_markdown(records)
    print(text)
    if _OUT.value:
        Path(f"{_OUT.value}.md").write_text(text)
        viz.save_png(figure(records), f"{_OUT.value}.png", scale=1)


if __name__ == "__main__":
    cli.run(main, huge_pages=False)  # reads JSON files, runs no XLA
