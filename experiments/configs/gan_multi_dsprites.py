"""The DCGAN-style baseline on multi-dSprites (64x64), for segment statistics and inversion.

python -m experiments.train --config=experiments/configs/gan_multi_dsprites.py --workdir=runs/gan_multi_dsprites
python -m experiments.train --config=experiments/configs/gan_multi_dsprites.py:cpu32 --workdir=runs/gan_cpu32
python -m experiments.segment_stats --workdir=runs/gan_cpu32

Variants: ``hinge``, ``quick``, ``cpu32`` (``experiments.configs.common.gan_config``).
"""

from experiments.configs.common import gan_config


def get_config(variant: str = ""):
    return gan_config("multi_dsprites", variant)
