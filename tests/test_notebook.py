"""The notebooks run top to bottom (with tiny settings)."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _execute(name: str) -> tuple[str, list]:
    """Run ``notebooks/<name>`` in its folder; ``(stream text, image outputs)``, no errors."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return text, [o for o in outputs if "image/png" in o.get("data", {})]


def test_quickstart_notebook_executes(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("OCG_QUICKSTART_STEPS", "2")
    monkeypatch.setenv("OCG_QUICKSTART_WORKDIR", str(tmp_path / "run"))
    monkeypatch.setenv("OCG_QUICKSTART_DATA_DIR", data_dir)
    monkeypatch.setenv("OCG_QUICKSTART_NARROW", "1")
    monkeypatch.setenv("OCG_QUICKSTART_FEATURE_NET_STEPS", "20")  # the cache other tests use
    text, images = _execute("quickstart.ipynb")
    assert "trained to step 2" in text and "ari_fg" in text
    assert len(images) >= 4  # the curves and three picture grids
    assert (tmp_path / "run" / "checkpoints").is_dir() and os.listdir(tmp_path / "run" / "images")


def test_air_notebook_executes(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("OCG_AIR_STEPS", "2")
    monkeypatch.setenv("OCG_AIR_DATA", "tiny")
    monkeypatch.setenv("OCG_AIR_WORKDIR", str(tmp_path / "run"))
    monkeypatch.setenv("OCG_AIR_DATA_DIR", data_dir)
    text, images = _execute("air.ipynb")
    assert "trained to step 2" in text and "count accuracy test_3" in text
    assert len(images) >= 4  # the data, the curves and two picture grids


def test_disentangling_notebook_executes(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("OCG_DD_STEPS", "3")
    monkeypatch.setenv("OCG_DD_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("OCG_DD_DATA_DIR", data_dir)
    text, images = _execute("disentangling.ipynb")
    assert "beta=0, alpha=1: component_balance" in text and "beta=1, alpha=0" in text
    assert len(images) == 1  # the two scatter plots side by side
    assert (tmp_path / "runs" / "decomposition" / "checkpoints").is_dir()


def test_seeing_notebook_executes(tmp_path, data_dir, monkeypatch):
    for key, value in {
        "VARIANT": "quick",
        "STEPS": "4",
        "IMAGES": "20",
        "SEGMENTER_STEPS": "150",  # the segmenter the other tests cache in data_dir
        "FEATURE_NET_STEPS": "20",
        "INVERSION_STEPS": "10",
        "WORKDIR": str(tmp_path),
        "DATA_DIR": data_dir,
    }.items():
        monkeypatch.setenv(f"OCG_SEEING_{key}", value)
    text, images = _execute("seeing.ipynb")
    assert "trained to step 4" in text and "planted: FSD" in text and "GAN: FSD" in text
    assert "layerwise" in text
    assert len(images) == 3  # the planted histogram, the GAN's and the inversion picture
    assert (tmp_path / "gan" / "segment_stats.json").exists()


def test_redo_notebook_executes(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("OCG_REDO_VARIANT", "32,quick")
    monkeypatch.setenv("OCG_REDO_STEPS", "4")
    monkeypatch.setenv("OCG_REDO_WORKDIR", str(tmp_path / "run"))
    monkeypatch.setenv("OCG_REDO_DATA_DIR", data_dir)
    text, images = _execute("redo.ipynb")
    assert "trained to step 4" in text and "collapse flagged at steps" in text
    assert "fg fixed_region" in text and "fg best_region_per_image" in text
    assert len(images) == 3  # the data, the curves and the redrawing grid
    assert (tmp_path / "run" / "checkpoints").is_dir()
