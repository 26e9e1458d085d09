"""Disentangling Disentanglement's sparsity experiment on Fashion-MNIST, from your IDX files.

python -m experiments.train --config=experiments/configs/dd_fashion_mnist.py \
    --config.data.manual_dir=/path/to/fashion-mnist --workdir=runs/dd_fashion
python -m experiments.evaluate --workdir=runs/dd_fashion    # Hoyer sparsity, log p(x)

As the original's ``sparsity.sh``: the DCGAN-style encoder and decoder with batch norm
(``ocg_jax/nn/dcgan.py``), latent 50, a Laplace likelihood (scale 0.1), the sparse prior
(a spike N(0, 0.05^2) of weight gamma and a N(0, 1) slab), D(q(z), p(z)) by the
per-dimension IMQ MMD weighted by alpha, beta 1, batch 500, 80 epochs of the 55,000
training images (8,800 steps), Adam (amsgrad) 5e-4; images resized to 32x32 and clamped.
The grid: ``--config.model.prior.gamma`` 0 or 0.8 by ``--config.alpha`` 0 or 100
(default 0.8 and 100).  Variant: ``quick`` (a few steps; tests).
"""

import ml_collections

from experiments.configs.common import quick_schedule, with_variants
from experiments.configs.dd_dsprites import dd_config


def fashion_config() -> ml_collections.ConfigDict:
    c = dd_config("fashion_mnist_files", None)
    c.data.config = ml_collections.config_dict.placeholder(str)  # the builder has one config
    c.beta, c.alpha = 1.0, 100.0
    c.batch_size = 500
    c.num_steps = 8_800  # 80 epochs of 55,000
    c.log_every = 50
    c.eval_every = 1_100
    c.eval_images = 500
    c.checkpoint_every = 1_100
    c.optim.learning_rate = 5e-4
    c.model.update(
        data="image", image_size=32, channels=1, latent=50, arch="dcgan", nf=32,
        likelihood="laplace", laplace_scale=0.1, divergence="mmd",
    )  # fmt: skip
    c.model.prior = ml_collections.ConfigDict({"name": "sparse", "gamma": 0.8})
    return c


def quick(c):
    c.batch_size = 16
    return quick_schedule(c, num_steps=10)


VARIANTS = {"quick": quick}


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    """``variant``: comma-separated names of ``VARIANTS``."""
    return with_variants(fashion_config(), variant, VARIANTS, "dd_fashion_mnist")
