"""GENESIS on multi-dSprites (64x64, K = 5); GECO, as in the GENESIS paper.

python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py --workdir=runs/genesis_multi_dsprites
python -m experiments.train --config=experiments/configs/genesis_multi_dsprites.py:quick --workdir=runs/quick_genesis
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("genesis", "multi_dsprites", variant)
