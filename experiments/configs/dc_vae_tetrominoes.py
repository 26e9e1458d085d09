"""DC-VAE (a deconvolution decoder) on Tetrominoes (32x32, K = 4); the GENESIS paper's
training (GECO).

python -m experiments.train --config=experiments/configs/dc_vae_tetrominoes.py --workdir=runs/dc_vae_tetrominoes
python -m experiments.train --config=experiments/configs/dc_vae_tetrominoes.py:quick --workdir=runs/quick_dc_vae
python -m experiments.train --config=experiments/configs/dc_vae_tetrominoes.py:cpu --workdir=runs/dc_vae_cpu
"""

from experiments.configs.common import scene_config, scene_variants, with_variants
from experiments.configs.dc_vae_multi_dsprites import MODEL


def get_config(variant: str = ""):
    c = scene_config("tetrominoes", MODEL)
    return with_variants(c, variant, scene_variants("tetrominoes"), "dc_vae_tetrominoes")
