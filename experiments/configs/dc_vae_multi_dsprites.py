"""DC-VAE (a deconvolution decoder) on multi-dSprites (64x64, K = 5); the GENESIS paper's
training (GECO).

python -m experiments.train --config=experiments/configs/dc_vae_multi_dsprites.py --workdir=runs/dc_vae_multi_dsprites
python -m experiments.train --config=experiments/configs/dc_vae_multi_dsprites.py:quick --workdir=runs/quick_dc_vae
python -m experiments.train --config=experiments/configs/dc_vae_multi_dsprites.py:cpu --workdir=runs/dc_vae_cpu
"""

from experiments.configs.common import scene_config, scene_variants, with_variants

MODEL = {
    "name": "dc_vae",
    "compute_dtype": "float32",  # "bfloat16": convs and matmuls (accelerators)
    "latent": 64,
    "sigma": 0.7,
    "enc_channels": (32, 32, 64, 64, 64),
    "enc_strides": (1, 2, 1, 2, 1),
    "dec_channels": (64, 32, 32, 32, 32),
}


def get_config(variant: str = ""):
    c = scene_config("multi_dsprites", MODEL)
    return with_variants(c, variant, scene_variants("multi_dsprites"), "dc_vae_multi_dsprites")
