"""GENESIS on Tetrominoes (32x32, K = 4); the GENESIS paper's training (GECO).

python -m experiments.train --config=experiments/configs/genesis_tetrominoes.py --workdir=runs/genesis_tetrominoes
python -m experiments.train --config=experiments/configs/genesis_tetrominoes.py:quick --workdir=runs/quick_genesis
python -m experiments.train --config=experiments/configs/genesis_tetrominoes.py:cpu --workdir=runs/genesis_cpu
"""

from experiments.configs.common import scene_config, scene_variants, with_variants
from experiments.configs.genesis_multi_dsprites import MODEL


def get_config(variant: str = ""):
    c = scene_config("tetrominoes", MODEL)
    return with_variants(c, variant, scene_variants("tetrominoes"), "genesis_tetrominoes")
