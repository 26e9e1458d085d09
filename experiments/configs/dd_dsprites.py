"""Disentangling Disentanglement on dSprites: how beta, alpha and the prior change disentanglement.

python -m experiments.train --config=experiments/configs/dd_dsprites.py --workdir=runs/dd_dsprites
python -m experiments.train --config=experiments/configs/dd_dsprites.py:cpu,student_t --workdir=runs/dd_st
python -m experiments.evaluate --workdir=runs/dd_st    # eval.json: disentanglement, MIG, DCI

The paper's setting: latent 10, Adam 5e-4 (amsgrad), batch 64, 20 epochs of the 737,280
images (230,400 steps), Bernoulli likelihood, beta 1, alpha 0.  Keys: ``beta``,
``alpha``, ``model.prior.name``, ``model.divergence``.  Variants (comma-separated):
  * priors: ``anisotropic`` (fixed per-dimension variances, the original's ``pca``
    profile as its code computes it), ``anisotropic_top10`` (the top 10 principal
    directions' spread instead), ``anisotropic_learned``, ``student_t`` (df 9);
  * ``mmd``: D(q(z), p(z)) by MMD (set ``--config.alpha``);
  * sizes: ``quick`` (tiny data, 60 steps; tests), ``cpu`` (the 50,000-image
    ``small`` subset, 4,000 steps: about 10 minutes on 2 cores of an AMD EPYC, quiet).
"""

import ml_collections

from experiments.configs.common import base_config, quick_schedule, with_variants

#: the original's ``pca`` profile: log squared singular values 11-20 of the uncentred images,
#: smallest first (its svds quirk; docs/disentangling.md), relative to the largest;
#: ocg_jax.data.dsprites.pca_log_variances_original on 10,000 random images of the grid
PCA_LOG_VARIANCES = (-0.712, -0.588, -0.562, -0.421, -0.4, -0.369, -0.349, -0.104, -0.097, 0.0)
#: the top 10 log singular values of the centred images, largest first
#: (pca_log_variances on 10,000 images of dsprites/small): the ``anisotropic_top10`` profile
TOP10_LOG_SINGULAR_VALUES = (
    0.0,
    -0.006,
    -0.09,
    -0.097,
    -0.122,
    -0.21,
    -0.214,
    -0.304,
    -0.323,
    -0.334,
)


def dd_config(dataset: str, data_config: str) -> ml_collections.ConfigDict:
    """Disentangling Disentanglement: fixed ``beta`` on the KL, ``alpha`` on D(q(z), p(z))
    (the ``elbo`` recipe's batch regulariser ``divergence``), ``model.prior`` and
    ``model.divergence``; ``--config.alpha=A`` sets the regulariser's weight."""
    c = base_config()
    # the original's PyTorch Adam(amsgrad=True); optax's form is "amsgrad" (docs/disentangling.md)
    c.optim.name = "amsgrad_torch"
    c.beta = 1.0
    c.alpha = 0.0
    c.regularizers = ml_collections.ConfigDict({"divergence": c.get_ref("alpha")})
    c.data.name = dataset
    c.data.config = data_config
    c.data.max_label = 0
    c.model = ml_collections.ConfigDict(
        {
            "name": "dd_vae",
            "latent": 10,
            "prior": {"name": "isotropic", "variance": 1.0},
            "divergence": "kl",
            "compute_dtype": "float32",
        }
    )
    return c


def dsprites_config() -> ml_collections.ConfigDict:
    c = dd_config("dsprites", "full")
    c.batch_size = 64
    c.num_steps = 230_400  # 20 epochs
    c.eval_every = 5_000
    c.eval_images = 64
    c.checkpoint_every = 5_000
    c.optim.learning_rate = 5e-4
    c.model.update(data="image", image_size=64, channels=1, latent=10)
    c.model.prior = ml_collections.ConfigDict(
        {"name": "isotropic", "variance": 1.0, "df": 9.0, "log_variances": (), "learn": False}
    )
    return c


def anisotropic(c):
    c.model.prior.name = "anisotropic"
    c.model.prior.log_variances = PCA_LOG_VARIANCES
    return c


def anisotropic_top10(c):
    c = anisotropic(c)
    c.model.prior.log_variances = TOP10_LOG_SINGULAR_VALUES
    return c


def anisotropic_learned(c):
    c = anisotropic(c)
    c.model.prior.learn = True
    return c


def student_t(c):
    c.model.prior.name = "student_t"
    return c


def mmd(c):
    c.model.divergence = "mmd"
    return c


def quick(c):
    c.data.config = "tiny"
    c.batch_size = 16
    return quick_schedule(c)


def cpu(c):
    c.data.config = "small"
    c.num_steps = 4_000
    c.log_every = 100
    c.eval_every = 1_000
    c.checkpoint_every = 1_000
    c.max_to_keep = 1
    return c


VARIANTS = {
    "anisotropic": anisotropic,
    "anisotropic_top10": anisotropic_top10,
    "anisotropic_learned": anisotropic_learned,
    "student_t": student_t,
    "mmd": mmd,
    "quick": quick,
    "cpu": cpu,
}


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    """``variant``: comma-separated names of ``VARIANTS``."""
    return with_variants(dsprites_config(), variant, VARIANTS, "dd_dsprites")
