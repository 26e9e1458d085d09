r"""Point every notebook at the repository it is published from: an "Open in Colab" badge
on its title and ``REPO_URL`` in its install cell.

    python -m experiments.tools.colab_links --repo=OWNER/NAME [--branch=main] \
        [notebooks/air.ipynb ...]        # default: every notebooks/*.ipynb

The notebooks ship without a repository address (the project has no public one yet);
once it has, this writes it in.  Running it again with another address replaces the
badge and ``REPO_URL``; outputs and every other cell are left as they are.
"""

import re
from pathlib import Path

from absl import flags

from experiments import cli

_REPO = flags.DEFINE_string("repo", None, "GitHub OWNER/NAME the notebooks are published in")
_BRANCH = flags.DEFINE_string("branch", "main", "branch the Colab links open")

ROOT = Path(__file__).resolve().parents[2]
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*\)\]\(.*\)\n?$")
_REPO_LINE = re.compile(r'^REPO_URL = ".*?"(?P<comment>\s*#.*)?$', re.MULTILINE)
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


def colab_url(repo: str, branch: str, path: str) -> str:
    """Colab's address of ``path`` (relative to the repository root) on GitHub."""
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/{path}"


def link_notebook(nb, repo: str, branch: str, path: str) -> None:
    """Put the badge first in ``nb``'s first markdown cell and ``REPO_URL`` in the cell that
    defines it (an ``nbformat`` notebook, changed in place; ``path`` its place in the
    repository, as ``notebooks/air.ipynb``); raises naming what is missing."""
    title = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    install = next((c for c in nb.cells if _REPO_LINE.search(c.source)), None)
    if title is None or install is None:
        missing = "a markdown cell" if title is None else 'a code line REPO_URL = "..."'
        raise ValueError(f"{path} has no {missing} to write the repository into")
    lines = title.source.splitlines(keepends=True)
    if lines and _BADGE_LINE.match(lines[0]):
        lines = lines[2:] if len(lines) > 1 and not lines[1].strip() else lines[1:]
    badge = f"[![Open In Colab]({BADGE})]({colab_url(repo, branch, path)})\n\n"
    title.source = badge + "".join(lines)
    url = f"https://github.com/{repo}"
    install.source = _REPO_LINE.sub(
        lambda m: f'REPO_URL = "{url}"{m.group("comment") or ""}', install.source, count=1
    )


def main(argv):
    import nbformat

    repo = _REPO.value
    if not repo or not _REPO_NAME.match(repo):
        raise cli.UsageError(f"--repo must be GitHub's OWNER/NAME, e.g. me/ocg_jax (got {repo!r})")
    paths = [Path(p) for p in argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        if not p.is_file():
            raise cli.UsageError(f"notebook {p} not found")
    linked = []
    for p in paths:  # every notebook checked before any is written
        nb = nbformat.read(p, as_version=4)
        link_notebook(nb, repo, _BRANCH.value, f"notebooks/{p.name}")
        linked.append((p, nb))
    for p, nb in linked:
        nbformat.write(nb, p)
        print(f"{p}: {colab_url(repo, _BRANCH.value, f'notebooks/{p.name}')}")


if __name__ == "__main__":
    cli.run(main, huge_pages=False)  # edits JSON files, runs no XLA
