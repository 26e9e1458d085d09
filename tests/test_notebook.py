"""The notebooks run top to bottom, at tiny sizes: each test puts its values in a cell
after the notebook's parameters cell (tagged ``parameters``, as papermill does)."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _execute(name: str, **params) -> tuple[str, list]:
    """Run ``notebooks/<name>`` in its folder with ``params`` overriding its parameters;
    ``(stream text, image outputs)``, no errors and nothing on stderr."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters'"
    literal = lambda v: f"Path({str(v)!r})" if isinstance(v, Path) else repr(v)
    given = "\n".join(
        ["from pathlib import Path", *(f"{k} = {literal(v)}" for k, v in params.items())]
    )
    nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(given))
    NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()  # fmt: skip
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress" not in stderr, stderr
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return text, [o for o in outputs if "image/png" in o.get("data", {})]


def test_quickstart_notebook_executes(tmp_path, data_dir):
    text, images = _execute(
        "quickstart.ipynb", NUM_STEPS=2, WORKDIR=str(tmp_path / "run"), DATA_DIR=data_dir,
        NARROW=True, FEATURE_NET_STEPS=20,  # the cache other tests use
    )  # fmt: skip
    assert "trained to step 2" in text and "ari_fg" in text
    assert len(images) >= 4  # the curves and three picture grids
    assert (tmp_path / "run" / "checkpoints").is_dir() and any(
        (tmp_path / "run" / "images").iterdir()
    )


def test_air_notebook_executes(tmp_path, data_dir):
    text, images = _execute(
        "air.ipynb", NUM_STEPS=2, DATA="tiny", WORKDIR=str(tmp_path / "run"), DATA_DIR=data_dir
    )
    assert "trained to step 2" in text and "count accuracy test_3" in text
    assert len(images) >= 4  # the data, the curves and two picture grids


def test_disentangling_notebook_executes(tmp_path, data_dir):
    text, images = _execute(
        "disentangling.ipynb", NUM_STEPS=3, WORKDIR=tmp_path / "runs", DATA_DIR=data_dir
    )
    assert "beta=0, alpha=1: component_balance" in text and "beta=1, alpha=0" in text
    assert len(images) == 1  # the two scatter plots side by side
    assert (tmp_path / "runs" / "decomposition" / "checkpoints").is_dir()


def test_seeing_notebook_executes(tmp_path, data_dir):
    text, images = _execute(
        "seeing.ipynb", VARIANT="quick", NUM_STEPS=4, NUM_IMAGES=20,
        SEGMENTER_STEPS=150,  # the segmenter the other tests cache in data_dir
        FEATURE_NET_STEPS=20, INVERSION_STEPS=10, WORKDIR=tmp_path, DATA_DIR=data_dir,
    )  # fmt: skip
    assert "trained to step 4" in text and "planted: FSD" in text and "GAN: FSD" in text
    assert "layerwise" in text
    assert len(images) == 3  # the planted histogram, the GAN's and the inversion picture
    assert (tmp_path / "gan" / "segment_stats.json").exists()


def test_redo_notebook_executes(tmp_path, data_dir):
    text, images = _execute(
        "redo.ipynb", VARIANT="32,quick", NUM_STEPS=4, WORKDIR=str(tmp_path / "run"),
        DATA_DIR=data_dir,
    )  # fmt: skip
    assert "trained to step 4" in text and "collapse flagged at steps" in text
    assert "fg fixed_region" in text and "fg best_region_per_image" in text
    assert len(images) == 3  # the data, the curves and the redrawing grid
    assert (tmp_path / "run" / "checkpoints").is_dir()
