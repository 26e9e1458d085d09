"""BD-VAE (broadcast decoder) on Tetrominoes (32x32, K = 4); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/bd_vae_tetrominoes.py --workdir=runs/bd_vae_tetrominoes
python -m experiments.train --config=experiments/configs/bd_vae_tetrominoes.py:quick --workdir=runs/quick_bd_vae
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("bd_vae", "tetrominoes", variant)
