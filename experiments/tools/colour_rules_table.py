r"""The colour rules' test scores on ``fg_bg`` configs: the trivial baselines of docs/redo.md.

    python -m experiments.tools.colour_rules_table --configs=tiny,camouflage_tiny \
        [--num_images=500] [--data_dir=DIR]

Each config is generated first if it is missing (nothing is downloaded).  Prints one markdown
row per config: each rule's test IoU, per image the better of its foreground and its
complement, then its foreground fixed (``ocg_jax.analysis.foreground.colour_rules_table``).
"""

from absl import app, flags

_CONFIGS = flags.DEFINE_list("configs", ["tiny", "camouflage_tiny"], "fg_bg configs")
_NUM = flags.DEFINE_integer("num_images", 500, "test images scored (the first ones)")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default: tfds's)")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    from ocg_jax.analysis.foreground import colour_rules_table

    print(colour_rules_table(_CONFIGS.value, _NUM.value, _DATA_DIR.value))


if __name__ == "__main__":
    app.run(main)
