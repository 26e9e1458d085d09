"""MONet (Burgess et al. 2019) on Tetrominoes (32x32, K = 4), trained as the GENESIS paper
trains it (GECO, sigma 0.7); ``original`` is Burgess et al.'s own setting.

python -m experiments.train --config=experiments/configs/monet_tetrominoes.py --workdir=runs/monet_tetrominoes
python -m experiments.train --config=experiments/configs/monet_tetrominoes.py:quick --workdir=runs/quick_monet
python -m experiments.train --config=experiments/configs/monet_tetrominoes.py:cpu --workdir=runs/monet_cpu
python -m experiments.train --config=experiments/configs/monet_tetrominoes.py:original --workdir=runs/monet_tetrominoes_original
"""

from experiments.configs.common import scene_config, scene_variants, with_variants
from experiments.configs.monet_multi_dsprites import MODEL, original, with_bg_sigma


def get_config(variant: str = ""):
    c = with_bg_sigma(scene_config("tetrominoes", MODEL))
    return with_variants(
        c, variant, scene_variants("tetrominoes", {"original": original}), "monet_tetrominoes"
    )
