"""Disentangling Disentanglement on pinwheel: does q(z) take the mixture prior's 4 clusters?

python -m experiments.train --config=experiments/configs/dd_pinwheel.py --workdir=runs/dd_pinwheel
python -m experiments.train --config=experiments/configs/dd_pinwheel.py:vae --workdir=runs/dd_pinwheel_vae

The default is the paper's (beta=0, alpha=1) with the minibatch KL(p || q); ``vae``
is (beta=1, alpha=0).  500 full-batch steps of 400 points (the original's 500
epochs), Adam 1e-3, a 4-Gaussian mixture prior (std sqrt(0.03)), latent 2, MLPs
2-100-2.  Keys: ``beta``, ``alpha``, ``model.prior.name``, ``model.divergence``.
Variants: ``vae``, ``mmd`` (D by MMD), ``quick`` (50 steps; tests).
"""

import ml_collections

from experiments.configs.common import with_variants
from experiments.configs.dd_dsprites import dd_config


def pinwheel_config() -> ml_collections.ConfigDict:
    c = dd_config("pinwheel", "default")
    c.beta, c.alpha = 0.0, 1.0
    c.batch_size = 400  # the whole set per step
    c.num_steps = 500
    c.log_every = 10
    c.eval_every = 100
    c.eval_images = 400
    c.checkpoint_every = 500
    c.max_to_keep = 1
    c.optim.learning_rate = 1e-3
    c.model.update(data="point", point_dim=2, latent=2, hidden=100)
    c.model.prior = ml_collections.ConfigDict({"name": "mixture", "variance": 0.03})
    return c


def vae(c):
    c.beta, c.alpha = 1.0, 0.0
    return c


def mmd(c):
    c.model.divergence = "mmd"
    return c


def quick(c):
    c.num_steps = 50
    c.eval_every = 25
    c.checkpoint_every = 25
    return c


VARIANTS = {"vae": vae, "mmd": mmd, "quick": quick}


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    """``variant``: comma-separated names of ``VARIANTS``."""
    return with_variants(pinwheel_config(), variant, VARIANTS, "dd_pinwheel")
