r"""The colour rules' test scores on ``fg_bg`` configs: the trivial baselines of docs/redo.md.

    python -m experiments.tools.colour_rules_table --configs=tiny,camouflage_tiny \
        [--num_images=500] [--data_dir=DIR]

Each config is generated first if it is missing (nothing is downloaded).  Prints one markdown
row per config: each rule's test IoU, per image the better of its foreground and its
complement, then its foreground fixed (``ocg_jax.analysis.foreground.rule_scores``).
"""

from absl import app, flags

from ocg_jax.analysis.colour_rules import RULES

_CONFIGS = flags.DEFINE_list("configs", ["tiny", "camouflage_tiny"], "fg_bg configs")
_NUM = flags.DEFINE_integer("num_images", 500, "test images scored (the first ones)")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default: tfds's)")


def table(configs: list[str], num_images: int, data_dir: str | None = None) -> str:
    """Markdown: a row per config, two columns per rule (best region / fixed region IoU)."""
    from ocg_jax.analysis.foreground import colour_rule_evaluation
    from ocg_jax.data.pipeline import load_source

    head = ["data", "test images"] + [f"{r}, best region / fixed region" for r in RULES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config in configs:
        source = load_source("fg_bg", config, "test", data_dir)
        num = min(num_images, len(source))
        scores = colour_rule_evaluation(source, num)
        cells = [
            f"{s['best_region_per_image']['iou']:.3f} / {s['fixed_region']['iou']:.3f}"
            for s in (scores[r] for r in RULES)
        ]
        lines.append(f"| `{config}` | {num} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    print(table(_CONFIGS.value, _NUM.value, _DATA_DIR.value))


if __name__ == "__main__":
    app.run(main)
