"""The DCGAN-style baseline on Tetrominoes (32x32), for segment statistics and inversion.

python -m experiments.train --config=experiments/configs/gan_tetrominoes.py --workdir=runs/gan_tetrominoes
python -m experiments.train --config=experiments/configs/gan_tetrominoes.py:quick --workdir=runs/gan_quick

The settings and variants of ``gan_multi_dsprites.py``.
"""

from experiments.configs.common import with_variants
from experiments.configs.gan_multi_dsprites import gan_config, gan_variants


def get_config(variant: str = ""):
    c = gan_config("tetrominoes")
    return with_variants(c, variant, gan_variants("tetrominoes"), "gan_tetrominoes")
