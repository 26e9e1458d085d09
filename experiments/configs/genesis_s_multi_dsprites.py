"""GENESIS-S (no component VAE; broadcast decoder on the mask latents) on multi-dSprites.

python -m experiments.train --config=experiments/configs/genesis_s_multi_dsprites.py --workdir=runs/genesis_s
python -m experiments.train --config=experiments/configs/genesis_s_multi_dsprites.py:quick --workdir=runs/quick_s
"""

import ml_collections

from experiments.configs.common import apply_variant, base_config
from experiments.configs.genesis_multi_dsprites import model_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = base_config()
    c.model = model_config("genesis_s")
    return apply_variant(c, variant)
