r"""Train several seeds of one config, evaluate each, and tabulate them (each seed, and mean ± std).

    python -m experiments.seeds --config=experiments/configs/redo_fg_bg.py:cpu --seeds=0,1,2 \
        --out_dir=runs/redo_cpu [--parallel=3] [--time_limit=3600] \
        [--eval_flags=--num_images=500,--fd_images=0,--probe_train_images=0] \
        [--config.num_steps=4000 ...]     # overrides as for experiments.train, for every seed

The dataset is prepared first, once; then seed S trains in ``OUT_DIR/seed_S`` as its own
``experiments.train`` process (log: ``OUT_DIR/seed_S.log``); a run already there resumes.
``--parallel`` trains that many at once: small models share one GPU well (3 ReDO runs
at 64 px on one H200, ``docs/redo.md``; each takes 0.9 / parallel of its memory unless
``XLA_PYTHON_CLIENT_MEM_FRACTION`` is set); on a CPU keep 1.  ``--time_limit`` (seconds of
wall time, compilation included) stops a run with SIGINT and keeps its checkpoints; it
is then evaluated at its last one.  ``experiments.evaluate`` runs on each seed
(``--parallel`` at once) with ``--eval_flags``, then ``OUT_DIR/seeds.md`` gets a row per
seed and the mean ± std (``experiments.compare``).
"""

import json
import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from experiments import cli
from experiments.jobs import run_jobs

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "experiment config file[:variant]", lock_config=True
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "seeds to train")
_OUT = flags.DEFINE_string("out_dir", None, "one run directory per seed goes here")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "runs trained at once")
_TIME_LIMIT = flags.DEFINE_float("time_limit", None, "seconds a run may train (None: no limit)")
_EVAL_FLAGS = flags.DEFINE_list(
    "eval_flags",
    ["--fd_images=0", "--probe_train_images=0"],
    "flags for experiments.evaluate, comma-separated",
)
flags.mark_flags_as_required(["config", "out_dir"])


def _train_command(seed: str, workdir: Path, config_args: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "experiments.train", *config_args,
        f"--config.seed={seed}", f"--workdir={workdir}",
    ]  # fmt: skip


def _config_args(args: list[str]) -> list[str]:
    """This command's ``--config`` and ``--config.KEY`` flags (with their values), for the runs."""
    out = []
    for i, a in enumerate(args):
        if a == "--config" or a.startswith(("--config=", "--config.")):
            out.append(a)
            if "=" not in a and i + 1 < len(args):
                out.append(args[i + 1])
    return out


def _prepare_data(config) -> None:
    """Build (or convert) the dataset once, so that parallel runs do not race to write it."""
    from ocg_jax.data.pipeline import load_source

    data = config.data
    load_source(data.name, data.config, "train", data.get("data_dir"), data.prepare,
                data.get("manual_dir"))  # fmt: skip


def main(argv):
    from ocg_jax.analysis.compare import load_results, per_run_markdown, summarise, to_markdown

    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments {argv[1:]}; give flags only")
    config_args = _config_args(sys.argv[1:])
    _prepare_data(_CONFIG.value)
    out = Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    dirs = {s: out / f"seed_{s}" for s in _SEEDS.value}
    logs = {s: out / f"seed_{s}.log" for s in _SEEDS.value}
    jobs = [(_train_command(s, dirs[s], config_args), logs[s]) for s in dirs]
    ended = run_jobs(jobs, _PARALLEL.value, _TIME_LIMIT.value)
    status = {s: ended[logs[s]] for s in dirs}
    trained = [s for s in dirs if not status[s].startswith("failed")
               and (dirs[s] / "checkpoints").is_dir()]  # fmt: skip
    for seed in dirs:
        print(f"seed {seed}: training {status[seed]}", flush=True)
    evaluate = [sys.executable, "-m", "experiments.evaluate"]
    # as many evaluations at once as trainings: on a GPU each is mostly compilation
    jobs = [(evaluate + [f"--workdir={dirs[s]}"] + _EVAL_FLAGS.value, logs[s]) for s in trained]
    ended = run_jobs(jobs, _PARALLEL.value, None)
    evaluated = [dirs[s] for s in trained if ended[logs[s]] == "done"]
    for seed in trained:
        if ended[logs[seed]] != "done":
            print(f"seed {seed}: evaluation {ended[logs[seed]]}", flush=True)
    if not evaluated:
        raise cli.UsageError(f"no seed trained and evaluated; see the logs in {out}")
    results = load_results(evaluated)
    table = per_run_markdown(results) + "\n" + to_markdown(*summarise(results))
    (out / "seeds.md").write_text(table)
    (out / "seeds.json").write_text(json.dumps(status))
    print(table)
    if len(evaluated) < len(dirs):
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main, huge_pages=False)  # the runs are subprocesses; this one runs no XLA
