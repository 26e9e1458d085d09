"""ReDO on Oxford Flowers 102 from your own files, 128x128 (the paper's setting).

python -m experiments.train --config=experiments/configs/redo_flowers.py \
    --config.data.manual_dir=/path/to/flowers --workdir=runs/redo_flowers

The manual dir holds jpg/ (or 102flowers.tgz), segmim/ (or 102segmentations.tgz) and
setid.mat (``ocg_jax/data/flowers.py``).  The paper's settings (``redo_fg_bg.py``): 40k
steps of 20 redrawn images, widths 64, the original's collapse handling.  docs/redo.md
has the paper's scores and what a run here gives.
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
    return with_variants(c, variant, VARIANTS, "redo_flowers")
