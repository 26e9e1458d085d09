"""Defaults shared by every experiment config (engine, data, GECO), datasets and variants.

A config file ``<model>_<dataset>.py`` is ``experiment(model, dataset, variant)``;
``--config=FILE:a,b`` applies the variants ``a`` then ``b`` (see ``VARIANTS``).
"""

import ml_collections
from ml_collections import config_dict

from experiments.configs.models import MODEL_VARIANTS, model_config

#: dataset -> image size, K, largest instance label, and its builder configs per variant
DATASETS = {
    "multi_dsprites": {
        "image_size": 64,
        "num_slots": 5,
        "max_label": 4,
        "configs": {"": "full", "quick": "tiny", "cpu32": "small_32px"},
    },
    "tetrominoes": {
        "image_size": 32,
        "num_slots": 4,
        "max_label": 3,
        "configs": {"": "full", "quick": "tiny", "cpu32": "small"},
    },
}


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 32
    c.num_steps = 500_000
    c.beta = 0.5  # fixed KL weight when GECO is off
    c.log_every = 100
    c.eval_every = 5_000
    c.eval_images = 64  # validation images for ARI-FG / mSC-FG during training
    c.checkpoint_every = 5_000
    c.max_to_keep = 3

    c.data = ml_collections.ConfigDict()
    c.data.name = "multi_dsprites"
    c.data.config = "full"
    c.data.data_dir = config_dict.placeholder(str)  # default: tfds's (~/tensorflow_datasets)
    c.data.prepare = True  # generate procedural datasets that are missing
    c.data.manual_dir = config_dict.placeholder(str)  # multi_object: the user's TFRecord files
    c.data.eval_split = "validation"
    c.data.max_label = 4  # largest instance label in the masks
    c.data.num_threads = 0  # host threads decoding examples; 0: one per core, at most 16
    c.data.device_prefetch = 2  # batches copied to the devices ahead of the step

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.learning_rate = 1e-4
    c.optim.grad_clip_norm = 0.0

    c.geco = ml_collections.ConfigDict()
    c.geco.enabled = True
    c.geco.goal_per_pixel = 0.5655  # nats per pixel-channel
    c.geco.step_size = 1e-5  # eta at 64x64; scaled by 64^2 / (H * W)
    c.geco.alpha = 0.99
    c.geco.speedup = 10.0
    c.geco.beta_init = 1.0
    c.geco.beta_min = 1e-10
    c.geco.beta_max = 1e10
    return c


def make_quick(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The ``:quick`` variant: tiny generated data, a few minutes on 2 CPU cores."""
    c.data.config = DATASETS[c.data.name]["configs"]["quick"]
    c.batch_size = 8
    c.num_steps = 60
    c.log_every = 5
    c.eval_every = 30
    c.eval_images = 16
    c.checkpoint_every = 30
    # GECO is on: its reconstruction goal is for long runs, so here it lowers beta from 1
    # (to about 0.5 in 60 steps) while the reconstruction error stays above the goal
    c.optim.learning_rate = 3e-4
    c.max_to_keep = 1  # a 64x64 GENESIS checkpoint is ~140 MB
    return c


def make_cpu32(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The ``:cpu32`` variant: 32x32 images (5k train), thousands of steps on a CPU."""
    c.data.config = DATASETS[c.data.name]["configs"]["cpu32"]
    c.model.image_size = 32
    c.batch_size = 8
    c.num_steps = 2_000
    c.log_every = 50
    c.eval_every = 500
    c.checkpoint_every = 250
    c.optim.learning_rate = 3e-4
    return c


VARIANTS = {"quick": make_quick, "cpu32": make_cpu32}


def apply_variant(c: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """Apply the comma-separated variants of ``--config=FILE:variant``: a model's own variants
    (``original``) first, then the others (``quick``, ``cpu32``) in order, so that
    ``original,quick`` and ``quick,original`` are the same config."""
    names = sorted(filter(None, variant.split(",")), key=lambda n: n in VARIANTS)
    for name in names:
        if name in VARIANTS:
            c = VARIANTS[name](c)
        elif name in MODEL_VARIANTS and c.model.name in MODEL_VARIANTS[name][0]:
            c = MODEL_VARIANTS[name][1](c)
        else:
            known = sorted(VARIANTS) + [
                v for v, (models, _) in MODEL_VARIANTS.items() if c.model.name in models
            ]
            raise ValueError(f"unknown config variant {name!r} for {c.model.name}; known: {known}")
    return c


def experiment(model: str, dataset: str, variant: str = "") -> ml_collections.ConfigDict:
    """The config of ``model`` on ``dataset`` with ``variant`` applied."""
    d = DATASETS[dataset]
    c = base_config()
    c.data.name = dataset
    c.data.config = d["configs"][""]
    c.data.max_label = d["max_label"]
    c.model = model_config(model, d["image_size"], d["num_slots"])
    return apply_variant(c, variant)


def disentangling_config(dataset: str, data_config: str) -> ml_collections.ConfigDict:
    """Disentangling Disentanglement: fixed ``beta`` on the KL, ``alpha`` on D(q(z), p(z))
    (the ``elbo`` recipe's batch regulariser ``divergence``), ``model.prior`` and
    ``model.divergence``; ``--config.alpha=A`` sets the regulariser's weight."""
    c = base_config()
    del c.geco  # fixed beta
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


def with_variants(
    c: ml_collections.ConfigDict, variant: str, variants: dict, what: str
) -> ml_collections.ConfigDict:
    """``c`` with the comma-separated ``variant`` names applied, in the order of the
    ``variants`` table (so ``a,b`` and ``b,a`` are the same config)."""
    names = [n for n in variant.split(",") if n]
    unknown = sorted(set(names) - set(variants))
    if unknown:
        raise ValueError(
            f"unknown config variant(s) {unknown} for {what}; known: {sorted(variants)}"
        )
    for name, fn in variants.items():
        if name in names:
            c = fn(c)
    return c


def gan_config(dataset: str, variant: str = "") -> ml_collections.ConfigDict:
    """The DCGAN-style baseline on ``dataset`` (the ``adversarial`` recipe): WGAN-GP
    (gradient penalty 10, 5 critic steps per generator step, Adam 1e-4 betas (0, 0.9), as
    Gulrajani et al.), batch 64; variants ``hinge`` (spectrally normalised discriminator,
    one step each, Adam 2e-4), ``quick`` (tiny data, narrow nets; tests) and ``cpu32`` (32
    px, 1.5k steps on a CPU).  At the ``cpu32`` budget the hinge GAN collapsed to one
    image within 600 steps (with betas (0, 0.9) and (0.5, 0.999)); WGAN-GP did not."""
    d = DATASETS[dataset]
    c = base_config()
    del c.geco, c.beta
    c.data.name = dataset
    c.data.config = d["configs"][""]
    c.data.max_label = d["max_label"]
    c.batch_size = 64
    c.num_steps = 100_000
    c.eval_every = 5_000
    c.optim = ml_collections.ConfigDict(
        {"name": "adam", "learning_rate": 1e-4, "b1": 0.0, "b2": 0.9}
    )
    c.adversarial = ml_collections.ConfigDict({"repeats": {"discriminator": 5}})
    c.model = ml_collections.ConfigDict(
        {
            "name": "gan",
            "image_size": d["image_size"],
            "z_dim": 128,
            "nf_gen": 64,
            "nf_disc": 64,
            "loss": "wgan_gp",
            "gp_weight": 10.0,
        }
    )

    def hinge(c):
        c.model.loss = "hinge"
        c.adversarial.repeats.discriminator = 1
        c.optim.learning_rate = 2e-4
        return c

    def quick(c):  # 32 px (multi-dSprites: its 64-image tiny_32px set)
        c.data.config = {"multi_dsprites": "tiny_32px"}.get(dataset, d["configs"]["quick"])
        c.model.update(image_size=32, nf_gen=8, nf_disc=8, z_dim=16)
        c.batch_size = 8
        c.num_steps = 20
        c.log_every = 5
        c.eval_every = 10
        c.eval_images = 16
        c.checkpoint_every = 10
        c.max_to_keep = 2
        return c

    def cpu32(c):
        c.data.config = d["configs"]["cpu32"]
        c.model.update(image_size=32, nf_gen=32, nf_disc=32)
        c.batch_size = 32
        c.num_steps = 1_500
        c.log_every = 50
        c.eval_every = 500
        c.checkpoint_every = 500
        return c

    variants = {"hinge": hinge, "quick": quick, "cpu32": cpu32}
    return with_variants(c, variant, variants, f"gan_{dataset}")
