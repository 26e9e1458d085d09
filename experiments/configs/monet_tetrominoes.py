"""MONet on Tetrominoes (32x32, K = 4).
GECO, sigma 0.7 (the GENESIS paper's setting); `:original` is Burgess et al.'s.

python -m experiments.train --config=experiments/configs/monet_tetrominoes.py --workdir=runs/monet_tetrominoes
python -m experiments.train --config=experiments/configs/monet_tetrominoes.py:quick --workdir=runs/quick_monet
python -m experiments.train --config=experiments/configs/monet_tetrominoes.py:original --workdir=runs/monet_tetrominoes_original
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("monet", "tetrominoes", variant)
