"""ReDO on Oxford Flowers 102 from your own files, 128x128 (the paper's setting).

python -m experiments.train --config=experiments/configs/redo_flowers.py \
    --config.data.manual_dir=/path/to/flowers --workdir=runs/redo_flowers

The manual dir holds jpg/ (or 102flowers.tgz), segmim/ (or 102segmentations.tgz) and
setid.mat (``ocg_jax/data/flowers.py``).  40k steps of 20 redrawn images, widths
64; a GPU run: a step takes 65 ms on an H200, so 40k steps about 45 minutes (the
paper: accuracy about 0.88, IoU about 0.76 after 20-40k iterations).  Collapses
restart from the last checkpoint before the areas began to drift.
"""

import ml_collections

from experiments.configs.common import with_variants
from experiments.configs.redo_fg_bg import redo_config

VARIANTS: dict = {}  # none: the paper's setting


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = redo_config()
    c.data.name = "flowers"
    c.data.config = "128"
    c.model.image_size = 128
    c.collapse.restart = True
    return with_variants(c, variant, VARIANTS, "redo_flowers")
