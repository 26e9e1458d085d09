"""MONet on multi-dSprites (64x64, K = 5).
GECO, sigma 0.7 (the GENESIS paper's setting); `:original` is Burgess et al.'s.

python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py --workdir=runs/monet_multi_dsprites
python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py:quick --workdir=runs/quick_monet
python -m experiments.train --config=experiments/configs/monet_multi_dsprites.py:original --workdir=runs/monet_multi_dsprites_original
"""

from experiments.configs.common import experiment


def get_config(variant: str = ""):
    return experiment("monet", "multi_dsprites", variant)
