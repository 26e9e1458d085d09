"""The DCGAN-style baseline on Tetrominoes (32x32), for segment statistics and inversion.

python -m experiments.train --config=experiments/configs/gan_tetrominoes.py --workdir=runs/gan_tetrominoes
python -m experiments.train --config=experiments/configs/gan_tetrominoes.py:quick --workdir=runs/gan_quick

Variants: ``hinge``, ``quick``, ``cpu32`` (``experiments.configs.common.gan_config``).
"""

from experiments.configs.common import gan_config


def get_config(variant: str = ""):
    return gan_config("tetrominoes", variant)
