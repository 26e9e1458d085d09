"""ReDO on LFW (faces; face and hair are the foreground) from your own files, 128x128 (the paper's setting).

python -m experiments.train --config=experiments/configs/redo_lfw.py \
    --config.data.manual_dir=/path/to/lfw --workdir=runs/redo_lfw

The manual dir holds lfw_funneled/, parts_lfw_funneled_gt_images/ and ReDO's
train.txt, val.txt and test.txt (``ocg_jax/data/birds_faces.py``).  The paper's settings
(``redo_fg_bg.py``): 40k steps of 20 redrawn images, widths 64, the original's collapse
handling.  The original trains LFW with self-attention in G and D (``--useSelfAttG
--useSelfAttD``), which ocg_jax's networks do not have (docs/redo.md).
"""

import ml_collections

from experiments.configs.common import with_variants
from experiments.configs.redo_fg_bg import redo_config

VARIANTS: dict = {}  # none: the paper's setting


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = redo_config()
    c.data.name = "lfw"
    c.data.config = "128"
    c.model.image_size = 128
    return with_variants(c, variant, VARIANTS, "redo_lfw")
