"""GENESIS on multi-dSprites (64x64, K = 5); the GENESIS paper's training (GECO).

python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py --workdir=runs/genesis_multi_dsprites
python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py:quick --workdir=runs/quick_genesis
python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py:cpu --workdir=runs/genesis_cpu
"""

from experiments.configs.common import scene_config, scene_variants, with_variants

MODEL = {
    "name": "genesis",
    "compute_dtype": "float32",  # "bfloat16": convs and matmuls (accelerators)
    "num_slots": 0,  # the dataset's K
    "zm_dim": 64,
    "zc_dim": 16,
    "sigma": 0.7,
    "enc_channels": (32, 32, 64, 64, 64),
    "enc_strides": (1, 2, 1, 2, 1),
    "dec_channels": (64, 32, 32, 32, 32),  # the mask decoder (strides mirror the encoder's)
}


def get_config(variant: str = ""):
    c = scene_config("multi_dsprites", MODEL)
    return with_variants(c, variant, scene_variants("multi_dsprites"), "genesis_multi_dsprites")
