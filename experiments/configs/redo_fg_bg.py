"""ReDO on the procedural foreground / background scenes (``fg_bg`` builder).

python -m experiments.train --config=experiments/configs/redo_fg_bg.py:cpu --workdir=runs/redo_cpu
python -m experiments.evaluate --workdir=runs/redo_cpu     # accuracy / IoU, both protocols

The paper's settings at 64 px: batch 20 redrawn images (each batch here holds 40:
the second half is the discriminator's independent real batch), Adam betas
(0, 0.9), learning rates F 1e-5 (weight decay 1e-4), G, D and delta 1e-4,
lambda_z 5, z 32, widths 64.  ``config.collapse`` is the original's collapse handling
(``--autoRestart .1``): every 500 steps, the smallest soft region area of a training and
a validation batch both below 0.1 restarts the run from scratch, up to step 7,000.
Variants: ``quick`` (tiny data, narrow nets; tests), ``cpu`` (10k scenes at 32 px, the
paper's widths and batch, 3,500 steps), ``camouflage`` (objects colour cannot find, in the
scene's own colours), ``textures`` (the same in colours of their own), ``32`` / ``128``
(image size), ``digits`` (the authors' check: 3 regions).  docs/redo.md has what each
gives and takes.
"""

import ml_collections

from experiments.configs.common import base_config, quick_schedule, with_variants


def redo_config(data_config: str = "full") -> ml_collections.ConfigDict:
    c = base_config()
    c.data.name = "fg_bg"
    c.data.config = data_config
    c.data.max_label = 1
    c.batch_size = 40
    c.num_steps = 40_000
    c.eval_every = 500  # the original's: it evaluates (and checks for collapse) every 500
    c.eval_images = 100
    c.checkpoint_every = 1_000
    c.optim = ml_collections.ConfigDict(
        {"name": "adam", "learning_rate": 1e-4, "b1": 0.0, "b2": 0.9}
    )
    c.optim_groups = ml_collections.ConfigDict(
        {"mask": {"learning_rate": 1e-5, "weight_decay": 1e-4}}
    )
    c.collapse = ml_collections.ConfigDict(
        {
            "rule": "original",  # as the original's --autoRestart .1 (ocg_jax/train/collapse.py)
            "threshold": 0.1,
            "check_every": 500,
            "restart_before": 7000,
            "window": 1000,  # the streak rule's
            "healthy": 0.15,
            "restart": True,
            "from_scratch": True,
            "max_restarts": 10,
        }
    )
    c.keep_best = "iou"  # as the original's best.pth: the checkpoint of best validation IoU
    c.model = ml_collections.ConfigDict(
        {
            "name": "redo",
            "image_size": 64,
            "regions": 2,
            "z_dim": 32,
            "nf_mask": 64,
            "mask_res": 3,
            "nf_gen": 64,
            "nf_disc": 64,
            "nf_rec": 64,
            "lambda_z": 5.0,
            "torch_padding": True,  # F's stride-2 convs pad (1, 1), as the original
        }
    )
    return c


SUFFIX = {32: "_32", 64: "", 128: "_128"}  # the fg_bg configs' size suffixes


def quick(c):
    c.data.config = "tiny" + SUFFIX[c.model.image_size]
    c.model.update(nf_mask=8, mask_res=1, nf_gen=4, nf_disc=8, nf_rec=8)
    c.batch_size = 8
    quick_schedule(c, num_steps=20)
    c.max_to_keep = 2
    c.collapse.check_every = 10
    return c


def cpu(c):
    """32 px, the paper's widths and batch (narrower nets collapsed here)."""
    c.model.image_size = 32
    c.data.config = "small_32"
    c.batch_size = 40  # 20 + 20, the paper's
    c.num_steps = 3_500
    c.log_every = 50
    c.eval_every = 250
    c.checkpoint_every = 500
    return c


def px32(c):
    c.model.image_size = 32
    c.data.config += "_32"
    return c


def px128(c):
    c.model.image_size = 128
    c.data.config += "_128"
    return c


def digits(c):
    c.data.config = "digits"
    c.data.max_label = 2
    c.model.image_size = 128
    c.model.regions = 3
    return c


def camouflage(c):
    """Objects that colour cannot find (``ocg_jax/data/camouflage.py``), at the size set."""
    c.data.config = "camouflage_" + c.data.config
    return c


def textures(c):
    """As ``camouflage``, the object in colours of its own (independent of the background)."""
    c.data.config = "textures_" + c.data.config
    return c


VARIANTS = {
    "32": px32,
    "128": px128,
    "digits": digits,
    "quick": quick,
    "cpu": cpu,
    "camouflage": camouflage,
    "textures": textures,
}


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    """``variant``: comma-separated names of ``VARIANTS``."""
    return with_variants(redo_config(), variant, VARIANTS, "redo_fg_bg")
