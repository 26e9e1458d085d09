"""BD-VAE (a broadcast decoder) on Tetrominoes (32x32, K = 4); the GENESIS paper's training
(GECO).

python -m experiments.train --config=experiments/configs/bd_vae_tetrominoes.py --workdir=runs/bd_vae_tetrominoes
python -m experiments.train --config=experiments/configs/bd_vae_tetrominoes.py:quick --workdir=runs/quick_bd_vae
python -m experiments.train --config=experiments/configs/bd_vae_tetrominoes.py:cpu --workdir=runs/bd_vae_cpu
"""

from experiments.configs.bd_vae_multi_dsprites import MODEL
from experiments.configs.common import scene_config, scene_variants, with_variants


def get_config(variant: str = ""):
    c = scene_config("tetrominoes", MODEL)
    return with_variants(c, variant, scene_variants("tetrominoes"), "bd_vae_tetrominoes")
