"""GENESIS-S (no component VAE; broadcast decoder on the mask latents) on Tetrominoes (32x32, K = 4); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/genesis_s_tetrominoes.py --workdir=runs/genesis_s_tetrominoes
python -m experiments.train --config=experiments/configs/genesis_s_tetrominoes.py:quick --workdir=runs/quick_genesis_s
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("genesis_s", "tetrominoes", variant)
