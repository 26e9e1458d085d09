"""Run notebooks top to bottom at their own parameters and store the outputs in them, as a
reader on GitHub or Colab sees them before running anything.

    python -m experiments.tools.notebook_outputs notebooks/air.ipynb [more.ipynb ...]

Each notebook runs from the repository root (its ``runs/`` folders land in the ignored
``runs/``).  Progress bars write ``\\r``-separated updates to stderr, which nbclient keeps
as hundreds of outputs; ``tidy_streams`` keeps what a Jupyter front end shows instead:
consecutive stream outputs of one name merged, each line its text after its last ``\\r``.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shown_text(text: str) -> str:
    """What a terminal or Jupyter shows of ``text``: each line after its last ``\\r``
    (a trailing ``\\r`` clears nothing), blank lines dropped."""
    shown = []
    for line in text.split("\n"):
        pieces = [p for p in line.split("\r") if p.strip()]
        if pieces:
            shown.append(pieces[-1])
    return "\n".join(shown) + ("\n" if shown else "")


def tidy_streams(outputs: list) -> list:
    """``outputs`` of one code cell with consecutive stream outputs of the same name
    merged and reduced by ``shown_text``; empty streams dropped, others kept in order."""
    tidy = []
    for out in outputs:
        if out.get("output_type") != "stream":
            tidy.append(out)
        elif tidy and tidy[-1].get("output_type") == "stream" and tidy[-1]["name"] == out["name"]:
            tidy[-1]["text"] += out["text"]
        else:
            tidy.append(out)
    for out in tidy:
        if out.get("output_type") == "stream":
            out["text"] = shown_text(out["text"])
    return [o for o in tidy if o.get("output_type") != "stream" or o["text"]]


def main(paths: list[str]) -> int:
    import nbformat
    from nbclient import NotebookClient

    if not paths:
        print("usage: python -m experiments.tools.notebook_outputs NOTEBOOK.ipynb ...",
              file=sys.stderr)  # fmt: skip
        return 2
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        print(f"error: no notebook at {', '.join(missing)}", file=sys.stderr)
        return 2
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.time()
        NotebookClient(
            nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = tidy_streams(cell.outputs)
        nbformat.write(nb, path)
        print(f"{path}: executed and stored in {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
