"""ReDO on CUB-200-2011 (birds) from your own files, 128x128 (the paper's setting).

python -m experiments.train --config=experiments/configs/redo_cub.py \
    --config.data.manual_dir=/path/to/cub --workdir=runs/redo_cub

The manual dir is the extracted CUB_200_2011/CUB_200_2011 folder with segmentations/ and
ReDO's train_val_test_split.txt in it (``ocg_jax/data/birds_faces.py``).  The paper's
settings (``redo_fg_bg.py``): 40k steps of 20 redrawn images, widths 64, the original's
collapse handling.
"""

import ml_collections

from experiments.configs.common import with_variants
from experiments.configs.redo_fg_bg import redo_config

VARIANTS: dict = {}  # none: the paper's setting


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = redo_config()
    c.data.name = "cub"
    c.data.config = "128"
    c.model.image_size = 128
    return with_variants(c, variant, VARIANTS, "redo_cub")
