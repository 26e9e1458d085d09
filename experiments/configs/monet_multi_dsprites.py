"""MONet (Burgess et al. 2019) on multi-dSprites (64x64, K = 5), trained as the GENESIS paper
trains it (GECO, sigma 0.7); ``original`` is Burgess et al.'s own setting.

python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py --workdir=runs/monet_multi_dsprites
python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py:quick --workdir=runs/quick_monet
python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py:cpu --workdir=runs/monet_cpu
python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py:original --workdir=runs/monet_multi_dsprites_original
"""

import ml_collections
from ml_collections import config_dict

from experiments.configs.common import scene_config, scene_variants, with_variants

MODEL = {
    "name": "monet",
    "compute_dtype": "float32",  # "bfloat16": convs and matmuls (accelerators)
    "num_slots": 0,  # the dataset's K
    "zc_dim": 16,
    "sigma": 0.7,
    "unet_channels": (32, 32, 64, 64, 64),
}


def original(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Burgess et al.'s MONet setting: beta = gamma = 0.5 without GECO, sigma 0.09 for the
    background component and 0.11 for the others, RMSprop 1e-4, batch 64, 1M steps."""
    c.geco.enabled = False
    c.beta = 0.5  # on KL_c
    c.kl_weights = ml_collections.ConfigDict({"kl_m": 0.5})  # gamma
    c.model.sigma = 0.11
    c.model.bg_sigma = 0.09
    c.optim.name = "rmsprop"
    c.optim.learning_rate = 1e-4
    c.batch_size = 64
    c.num_steps = 1_000_000
    return c


def with_bg_sigma(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    c.model.bg_sigma = config_dict.placeholder(float)  # None: every component uses sigma
    return c


def get_config(variant: str = ""):
    c = with_bg_sigma(scene_config("multi_dsprites", MODEL))
    return with_variants(
        c, variant, scene_variants("multi_dsprites", {"original": original}), "monet_multi_dsprites"
    )
