"""GENESIS on Tetrominoes (32x32, K = 4); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/genesis_tetrominoes.py --workdir=runs/genesis_tetrominoes
python -m experiments.train --config=experiments/configs/genesis_tetrominoes.py:quick --workdir=runs/quick_genesis
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("genesis", "tetrominoes", variant)
