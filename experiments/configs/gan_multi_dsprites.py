"""The DCGAN-style baseline on multi-dSprites (64x64), for segment statistics and inversion.

python -m experiments.train --config=experiments/configs/gan_multi_dsprites.py --workdir=runs/gan_multi_dsprites
python -m experiments.train --config=experiments/configs/gan_multi_dsprites.py:cpu --workdir=runs/gan_cpu
python -m experiments.segment_stats --workdir=runs/gan_cpu

WGAN-GP (gradient penalty 10, 5 critic steps per generator step, Adam 1e-4 betas (0, 0.9),
as Gulrajani et al.), batch 64.  Variants: ``hinge`` (a spectrally normalised
discriminator, one step each, Adam 2e-4), ``ema`` (samples, inversion and statistics
use the generator's moving average, decay 0.999), ``quick`` (tiny data, narrow nets;
tests), ``cpu`` (32 px, 1.5k steps on a CPU) and ``from2x2`` (the generator starts at
2x2, one up-sampling more, so that a layer-wise residual on its first stage is a third of
a 32 px image's pixel values) and ``bounded`` (the first stage as wide as DCGAN's, but
no wider than keeps it and z within half the pixel values: 4x4x88 at 32 px, so that
layer-wise inversion meets the paper's bound).  ``--config.model.first_width`` sets the
first stage's channels.  docs/seeing.md has what each gives.
"""

import ml_collections

from experiments.configs.common import DATASETS, base_config, quick_schedule, with_variants


def gan_config(dataset: str) -> ml_collections.ConfigDict:
    d = DATASETS[dataset]
    c = base_config()
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
            "first_width": 0,  # 0: DCGAN's nf_gen * S / (2 * first_size)
            "first_size": 4,  # the generator's first map: 4x4 as DCGAN, or 2x2
            "loss": "wgan_gp",
            "gp_weight": 10.0,
        }
    )
    return c


def gan_variants(dataset: str) -> dict:
    configs = DATASETS[dataset]["configs"]

    def hinge(c):
        c.model.loss = "hinge"
        c.adversarial.repeats.discriminator = 1
        c.optim.learning_rate = 2e-4
        return c

    def ema(c):  # samples from the generator's moving average, as SNGAN and BigGAN evaluate
        c.adversarial.ema = ml_collections.ConfigDict({"generator": 0.999})
        return c

    def quick(c):  # 32 px (multi-dSprites: its 64-image tiny_32px set)
        c.data.config = {"multi_dsprites": "tiny_32px"}.get(dataset, configs["quick"])
        c.model.update(image_size=32, nf_gen=8, nf_disc=8, z_dim=16)
        c.batch_size = 8
        quick_schedule(c, num_steps=20)
        c.max_to_keep = 2
        return c

    def cpu(c):
        c.data.config = configs["cpu"]
        c.model.update(image_size=32, nf_gen=32, nf_disc=32)
        c.batch_size = 32
        c.num_steps = 1_500
        c.log_every = 50
        c.eval_every = 500
        c.checkpoint_every = 500
        return c

    def from2x2(c):  # at 32 px: 2x2x256 = 1,024 numbers, where DCGAN's 4x4x128 is 2,048
        c.model.first_size = 2
        return c

    def bounded(c):  # applied last: the sizes above are set
        m = c.model
        dcgan = m.nf_gen * m.image_size // (2 * m.first_size)  # Generator's rule; configs skip jax
        half = m.image_size**2 * 3 // 2  # layer-wise inversion's free numbers: z + the stage
        c.model.first_width = min(dcgan, (half - m.z_dim) // m.first_size**2)
        return c

    return {"hinge": hinge, "ema": ema, "quick": quick, "cpu": cpu, "from2x2": from2x2,
            "bounded": bounded}  # fmt: skip


def get_config(variant: str = ""):
    c = gan_config("multi_dsprites")
    return with_variants(c, variant, gan_variants("multi_dsprites"), "gan_multi_dsprites")
