"""BD-VAE (a broadcast decoder) on multi-dSprites (64x64, K = 5); the GENESIS paper's
training (GECO).

python -m experiments.train --config=experiments/configs/bd_vae_multi_dsprites.py --workdir=runs/bd_vae_multi_dsprites
python -m experiments.train --config=experiments/configs/bd_vae_multi_dsprites.py:quick --workdir=runs/quick_bd_vae
python -m experiments.train --config=experiments/configs/bd_vae_multi_dsprites.py:cpu --workdir=runs/bd_vae_cpu
"""

from experiments.configs.common import scene_config, scene_variants, with_variants

MODEL = {
    "name": "bd_vae",
    "compute_dtype": "float32",  # "bfloat16": convs and matmuls (accelerators)
    "latent": 64,
    "sigma": 0.7,
    "enc_channels": (32, 32, 64, 64, 64),
    "enc_strides": (1, 2, 1, 2, 1),
}


def get_config(variant: str = ""):
    c = scene_config("multi_dsprites", MODEL)
    return with_variants(c, variant, scene_variants("multi_dsprites"), "bd_vae_multi_dsprites")
