"""DAIR (difference AIR: the network sees the image minus the reconstruction so far).

python -m experiments.train --config=experiments/configs/dair_multi_digits.py:cpu --workdir=runs/dair_cpu
"""

from experiments.configs import air_multi_digits

VARIANTS = air_multi_digits.VARIANTS


def get_config(variant: str = ""):
    return air_multi_digits.get_config(",".join(filter(None, [variant, "dair"])))
