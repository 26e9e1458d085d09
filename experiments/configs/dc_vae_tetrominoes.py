"""DC-VAE (deconvolution decoder) on Tetrominoes (32x32, K = 4); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/dc_vae_tetrominoes.py --workdir=runs/dc_vae_tetrominoes
python -m experiments.train --config=experiments/configs/dc_vae_tetrominoes.py:quick --workdir=runs/quick_dc_vae
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("dc_vae", "tetrominoes", variant)
