"""Table of mean ± std per metric over runs (seeds of one config form one row).

    python -m experiments.compare runs/genesis_s0 runs/genesis_s1 runs/monet_s0 [--out=table]
writes table.md and table.csv when --out is given; prints the Markdown table.
"""

from pathlib import Path

from absl import app, flags

from experiments import cli

_OUT = flags.DEFINE_string("out", None, "prefix for the .md and .csv files")


def main(argv):
    from ocg_jax.analysis.compare import load_results, summarise, to_csv, to_markdown

    if len(argv) < 2:
        raise app.UsageError("give one or more run directories (or eval.json files)")
    columns, rows = summarise(load_results(argv[1:]))
    md = to_markdown(columns, rows)
    print(md)
    if _OUT.value:
        Path(f"{_OUT.value}.md").write_text(md)
        Path(f"{_OUT.value}.csv").write_text(to_csv(columns, rows))


if __name__ == "__main__":
    cli.run(main, huge_pages=False)  # reads JSON files, runs no XLA
