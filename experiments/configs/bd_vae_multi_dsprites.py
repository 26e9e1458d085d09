"""BD-VAE (broadcast decoder) on multi-dSprites (64x64, K = 5); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/bd_vae_multi_dsprites.py --workdir=runs/bd_vae_multi_dsprites
python -m experiments.train --config=experiments/configs/bd_vae_multi_dsprites.py:quick --workdir=runs/quick_bd_vae
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("bd_vae", "multi_dsprites", variant)
