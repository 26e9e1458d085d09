"""The performance tools (experiments/tools/): each runs and prints what it says; the PyTorch
comparisons time a step where torch is installed (it is not a dependency) and say what to
install where it is not."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_the_step_time_and_the_machine():
    cmd = [sys.executable, "-m", "experiments.tools.benchmark"]
    cmd += ["--config=experiments/configs/dc_vae_tetrominoes.py", "--batch_size=2"]
    cmd += ["--steps=3", "--warmup=1"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, res.stdout
    line = json.loads(lines[0])
    assert line["model"] == "dc_vae" and line["batch_size"] == 2 and line["devices"] >= 1
    assert 0 < line["train_step_ms_min"] <= line["train_step_ms_median"]
    assert line["images_per_s"] == pytest.approx(2000 / line["train_step_ms_median"], rel=1e-2)
    assert line["cpu"] and line["cores"] >= 1 and line["matmul_gflops"] > 0
    assert line["backend"] == jax.default_backend()


def _run(args, timeout=600):
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]


def test_profile_parts_times_each_part():
    from experiments.tools.parts import monet_parts

    args = ["-m", "experiments.tools.profile_parts", "--model=genesis", "--batch_size=1",
            "--image_size=16", "--num_slots=2"]  # fmt: skip
    (line,) = _run(args)
    assert line["model"] == "genesis" and line["mask_decoder_fwd_bwd_s"] > 0
    for module, x, _ in monet_parts(1, 2, 16).values():  # MONet's: they build on their inputs
        jax.eval_shape(module.init, jax.random.PRNGKey(0), x)


def test_profile_step_lists_the_slowest_ops():
    (line,) = _run(["-m", "experiments.tools.profile_step",
                    "--config=experiments/configs/dc_vae_tetrominoes.py", "--batch_size=2",
                    "--steps=1", "--top=3"])  # fmt: skip
    assert line["wall_ms_per_step"] > 0 and len(line["top_ops"]) <= 3


HAS_TORCH = importlib.util.find_spec("torch") is not None  # not a dependency of ocg_jax
NEEDS_TORCH = "this tool times PyTorch code: pip install torch first"


def test_torch_tools_time_a_step_or_say_they_need_torch():
    """With torch, the GENESIS step is timed and the others parse their flags; without it,
    each says in one line what to install."""
    tools = ["torch_reference.py", "torch_redo.py", "torch_air.py", "torch_dd.py"]
    for tool in tools:
        args = ["--batch_size=2", "--steps=1", "--warmup=0"] if tool == tools[0] else ["--help"]
        res = subprocess.run([sys.executable, f"experiments/tools/{tool}", *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        if not HAS_TORCH:
            assert res.returncode == 2 and res.stdout == "", tool
            assert (
                res.stderr.strip() == "error: this tool times PyTorch code: pip install torch first"
            )
        elif tool == tools[0]:
            line = json.loads(res.stdout.splitlines()[-1])
            assert line["train_step_ms_median"] > 0 and line["num_params"] > 0
        else:
            assert res.returncode == 0 and "--original" in res.stdout


def test_stored_notebook_outputs_keep_what_jupyter_shows():
    from experiments.tools.notebook_outputs import tidy_streams

    bar = [{"output_type": "stream", "name": "stderr", "text": f"\r{i}/3 steps"} for i in range(4)]
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "config\n"},
        *bar,
        {"output_type": "stream", "name": "stderr", "text": "\n"},
        {"output_type": "display_data", "data": {"image/png": "..."}},
        {"output_type": "stream", "name": "stdout", "text": "done\r\n"},
        {"output_type": "stream", "name": "stderr", "text": "\r  \r"},
    ]
    tidy = tidy_streams(outputs)
    assert [o.get("text") for o in tidy] == ["config\n", "3/3 steps\n", None, "done\n"]
    assert tidy[2]["output_type"] == "display_data"


def test_notebook_outputs_tool_names_a_missing_notebook():
    done = subprocess.run(
        [sys.executable, "-m", "experiments.tools.notebook_outputs", "notebooks/nothing.ipynb"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "nothing.ipynb" in done.stderr and not done.stdout


def _dd_run(root: Path, prior: str, beta: float, seed: int, score: float, opt="amsgrad") -> Path:
    """A run directory as experiments.train and evaluate leave it (the parts the figure reads)."""
    d = root / f"{prior}_beta{beta:g}" / f"seed_{seed}"
    d.mkdir(parents=True)
    cfg = {"model": {"prior": {"name": prior}}, "beta": beta, "alpha": 0.0, "seed": seed,
           "optim": {"name": opt}}  # fmt: skip
    dis = {"disentanglement_score": score, "factor_vae_eval_accuracy": score / 2,
           "mig": score / 10, "dci_disentanglement": score / 5, "protocols": {},
           "chance": {"disentanglement_score": 0.25 + seed / 100, "factor_vae_eval_accuracy": 0.2,
                      "mig": 0.001, "dci_disentanglement": 0.002}}  # fmt: skip
    ev = {"step": 40, "metrics": {"elbo": -100.0 - beta}, "disentanglement": dis}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "eval.json").write_text(json.dumps(ev))
    return d


def test_dd_beta_figure_tabulates_each_prior_and_beta_over_seeds(tmp_path):
    import numpy as np
    from PIL import Image

    scores = {("isotropic", 1.0): [0.4, 0.5], ("isotropic", 4.0): [0.6, 0.62],
              ("anisotropic", 1.0): [0.55, 0.45], ("anisotropic", 4.0): [0.7, 0.8]}  # fmt: skip
    dirs = [
        _dd_run(tmp_path, p, b, s, v) for (p, b), vs in scores.items() for s, v in enumerate(vs)
    ]
    out = tmp_path / "fig"
    args = ["-m", "experiments.tools.dd_beta_figure", *map(str, dirs), f"--out={out}"]
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    table = Path(f"{out}.md").read_text()
    assert table == res.stdout.rstrip("\n") + "\n"
    means = table.split("\n\n")[1].splitlines()[2:]
    assert len(means) == 5 and all("| 0,1 |" in m for m in means[:4])  # seeds pooled
    chance = means[4].split("|")  # N(0, I) codes: one draw per evaluation seed, so 2
    assert chance[3].strip() == "2 draws" and chance[6].strip() == "0.255 ± 0.005"
    for (prior, beta), vs in scores.items():
        row = next(m for m in means if m.startswith(f"| {prior} | {beta:g} |"))
        score_cell = row.split("|")[6].strip()  # prior, beta, seeds, step, ELBO, score
        assert score_cell == f"{np.mean(vs):.3f} ± {np.std(vs):.3f}"
    png = np.asarray(Image.open(f"{out}.png"))
    assert png.ndim == 3 and png.shape[1] > 2 * png.shape[0]  # four panels side by side
    # a run evaluated without the disentanglement scores: one line naming it, exit 2
    ev = json.loads((dirs[0] / "eval.json").read_text())
    del ev["disentanglement"]
    (dirs[0] / "eval.json").write_text(json.dumps(ev))
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 2 and str(dirs[0]) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_dd_beta_figure_keeps_a_sweep_in_its_records_file(tmp_path):
    # through subprocesses: importing the tool here would define its absl flags in a worker
    # that also imports experiments.evaluate (both define --out)
    records = tmp_path / "sweep.jsonl"

    def figure(*dirs):
        cmd = [sys.executable, "-m", "experiments.tools.dd_beta_figure", *map(str, dirs),
               f"--records={records}"]  # fmt: skip
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)

    first = [_dd_run(tmp_path / "a", "isotropic", b, 0, 0.5) for b in (1.0, 4.0)]
    assert figure(*first).returncode == 0  # a session records its runs; they are deleted
    later = _dd_run(tmp_path / "b", "isotropic", 4.0, 0, 0.7)  # the same cell and seed, rerun
    assert figure(later).returncode == 0
    kept = [json.loads(x) for x in records.read_text().splitlines()]
    assert [(r["beta"], r["disentanglement_score"]) for r in kept] == [(1.0, 0.5), (4.0, 0.7)]
    res = figure()  # the table from the file alone
    assert res.returncode == 0 and "| isotropic | 4 | 0 | 40 | -104.000 | 0.700 |" in res.stdout
    other = _dd_run(tmp_path / "c", "isotropic", 2.0, 0, 0.6, opt="amsgrad_torch")
    res = figure(other)
    assert res.returncode == 2 and "mixes the optimisers" in res.stderr
    assert len(records.read_text().splitlines()) == 2  # refused: the file unchanged
    records.write_text(records.read_text() + "not json\n")
    res = figure()
    assert res.returncode == 2 and "line 3 is not a run record" in res.stderr


def test_pinwheel_balance_prints_a_row_per_optimiser_and_setting(tmp_path):
    import numpy as np

    args = ["-m", "experiments.tools.pinwheel_balance", "--seeds=0", f"--data_dir={tmp_path}"]
    res = subprocess.run([sys.executable, *args, "--optimizers=amsgrad_torch"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    # absl's log stays at WARNING (JAX's backend probe logs at INFO, as "I1206 ...")
    assert not [x for x in res.stderr.splitlines() if x[:1] == "I" and x[1:5].isdigit()], res.stderr
    rows = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [r["setting"] for r in rows] == ["beta=0, alpha=1", "beta=1, alpha=0"]
    for r in rows:
        assert r["optimizer"] == "amsgrad_torch" and 0 <= r["component_balance"][0] <= 1
        assert 1 <= r["components_used"][0] <= 4 and np.isfinite(r["prior_log_likelihood_mean"])
    res = subprocess.run([sys.executable, *args, "--optimizers=adamw"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2 and "amsgrad_torch" in res.stderr  # names the known ones


def test_colab_links_write_the_badge_and_repo_url_once(tmp_path):
    import shutil

    import nbformat

    for name in ("air.ipynb", "redo.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    before = nbformat.read(tmp_path / "air.ipynb", as_version=4)
    args = ["-m", "experiments.tools.colab_links", str(tmp_path / "air.ipynb"),
            str(tmp_path / "redo.ipynb")]  # fmt: skip
    for repo in ("someone/old", "someone/ocg_jax"):  # a second run replaces the first's
        res = subprocess.run([sys.executable, *args, f"--repo={repo}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
    nb = nbformat.read(tmp_path / "air.ipynb", as_version=4)
    url = "https://colab.research.google.com/github/someone/ocg_jax/blob/main/notebooks/air.ipynb"
    title = nb.cells[0].source
    assert title.startswith("[![Open In Colab](") and title.count("Open In Colab") == 1
    assert f"]({url})\n\n# AIR" in title and "someone/old" not in title
    assert 'REPO_URL = "https://github.com/someone/ocg_jax"  # the git URL' in nb.cells[1].source
    # nothing else changed: the other cells and their outputs
    assert title.split("\n\n", 1)[1] == before.cells[0].source
    assert [c.get("outputs") for c in nb.cells[2:]] == [c.get("outputs") for c in before.cells[2:]]
    assert [c.source for c in nb.cells[2:]] == [c.source for c in before.cells[2:]]
    res = subprocess.run([sys.executable, *args, "--repo=not a repo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2 and "OWNER/NAME" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
