"""GENESIS, GENESIS-S, MONet, BD-VAE and DC-VAE side by side, as the GENESIS paper compares them.

    python -m experiments.paper_table --out_dir=runs/paper_table --steps=300 --seeds=0,1
    python -m experiments.paper_table ...same flags... --retime  # step times on a quiet machine

Trains every model on every dataset with the same budget (``--variant``, default
``cpu``: 32x32 images, batch 8), evaluates each run, times each model's train
step, and writes ``table.md`` (mean ± std over seeds) and ``samples_<dataset>.png``
(one row of prior samples per model) in ``--out_dir``.  Finished runs are reused,
so an interrupted table picks up where it stopped.
"""

import json
from pathlib import Path

import numpy as np
from absl import flags

from experiments import cli

_OUT = flags.DEFINE_string("out_dir", None, "where runs, table.md and figures go")
_STEPS = flags.DEFINE_integer("steps", 300, "train steps per run")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "seeds per model")
_MODELS = flags.DEFINE_list("models", ["genesis", "genesis_s", "monet", "bd_vae", "dc_vae"], "")
_DATASETS = flags.DEFINE_list("datasets", ["multi_dsprites", "tetrominoes"], "")
_VARIANT = flags.DEFINE_string("variant", "cpu", "config variant(s) every run uses")
_EVAL = flags.DEFINE_integer("num_images", 320, "test images for the segmentation scores")
_FD = flags.DEFINE_integer("fd_images", 500, "test images and prior samples for the FD")
_PROBE = flags.DEFINE_integer("probe_train_images", 1000, "train images for the probes")
_FEATURE_STEPS = flags.DEFINE_integer("feature_net_steps", 1500, "scene net training steps")
_RETIME = flags.DEFINE_bool(
    "retime",
    False,
    "time each model's step again (once per dataset) on finished runs, e.g. "
    "when they were trained beside other jobs",
)
flags.mark_flags_as_required(["out_dir"])


def _run_one(model: str, dataset: str, seed: int, workdir: Path) -> dict:
    """Train (or resume) and evaluate one run; ``eval.json`` plus the step time."""
    from experiments.configs.common import experiment
    from experiments.tools.timing import time_train_step
    from ocg_jax.analysis.evaluation import evaluate_run
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    done = workdir / "eval.json"
    if done.exists() and json.loads(done.read_text())["step"] == _STEPS.value:
        return json.loads(done.read_text())
    cfg = experiment(model, dataset, _VARIANT.value)
    cfg.seed = seed
    cfg.num_steps = _STEPS.value
    cfg.eval_every = cfg.checkpoint_every = _STEPS.value
    train_and_evaluate(cfg, workdir, progress=False)
    result = evaluate_run(
        load_run(workdir),
        num_images=_EVAL.value,
        fd_images=_FD.value,
        fd_samples=_FD.value,
        feature_net_steps=_FEATURE_STEPS.value,
        probe_train_images=_PROBE.value,
        probe_test_images=_EVAL.value,
        seed=seed,
        progress=False,
    )
    result["timing"] = time_train_step(cfg, cfg.batch_size, steps=5, warmup=1)
    done.write_text(json.dumps(result, indent=2))
    return result


_TIMINGS: dict = {}


def _retime(model: str, dataset: str, workdir: Path) -> dict:
    """The step time of ``model`` on ``dataset``, measured once per process; stored in the
    run's ``eval.json``."""
    from experiments.configs.common import experiment
    from experiments.tools.timing import time_train_step

    if (model, dataset) not in _TIMINGS:
        cfg = experiment(model, dataset, _VARIANT.value)
        _TIMINGS[model, dataset] = time_train_step(cfg, cfg.batch_size, steps=10, warmup=2)
    path = workdir / "eval.json"
    result = json.loads(path.read_text())
    result["timing"] = _TIMINGS[model, dataset]
    path.write_text(json.dumps(result, indent=2))
    return result["timing"]


def samples_figure(workdirs: dict, num: int = 8) -> np.ndarray:
    """uint8 grid: one row of ``num`` prior samples per model (its first seed), labelled."""
    import jax

    from ocg_jax import viz
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.models.base import sample_fn

    rows = []
    for workdir in workdirs.values():
        run = load_run(workdir)
        samples = sample_fn(run.model)(run.variables, jax.random.PRNGKey(0), num)
        rows.append(np.asarray(samples.recon))
    return viz.label_rows(viz.grid(rows), list(workdirs))


def main(argv):
    del argv
    from ocg_jax import viz
    from ocg_jax.analysis.compare import side_by_side

    out = Path(_OUT.value)
    results, firsts = {}, {}
    for dataset in _DATASETS.value:
        for model in _MODELS.value:
            for seed in map(int, _SEEDS.value):
                workdir = out / dataset / f"{model}_s{seed}"
                print(f"{dataset} {model} seed {seed} -> {workdir}", flush=True)
                result = _run_one(model, dataset, seed, workdir)
                if _RETIME.value:
                    result["timing"] = _retime(model, dataset, workdir)
                results.setdefault((dataset, model), []).append(result)
                firsts.setdefault(dataset, {}).setdefault(model, workdir)
        viz.save_png(samples_figure(firsts[dataset]), out / f"samples_{dataset}.png")
    text = side_by_side(results)
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
