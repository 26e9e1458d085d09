"""GENESIS on multi-dSprites (64x64, K = 5, GECO), as in Engelcke et al. 2020.

python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py --workdir=runs/genesis
python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py:quick --workdir=runs/quick
"""

import ml_collections

from experiments.configs.common import apply_variant, base_config


def model_config(name: str = "genesis") -> ml_collections.ConfigDict:
    m = ml_collections.ConfigDict()
    m.name = name
    m.image_size = 64
    m.num_slots = 5
    m.zm_dim = 64
    m.zc_dim = 16
    m.sigma = 0.7
    m.enc_channels = (32, 32, 64, 64, 64)
    m.enc_strides = (1, 2, 1, 2, 1)
    return m


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    c = base_config()
    c.model = model_config("genesis")
    return apply_variant(c, variant)
