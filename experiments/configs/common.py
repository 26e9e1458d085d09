"""What every experiment config shares: the engine's settings, one table per dataset, the
one variant mechanism, and the schedule of the ``quick`` variant.

A config file ``<model>_<dataset>.py`` holds every value of its experiment; its
``get_config(variant)`` applies the comma-separated variants of ``--config=FILE:a,b`` with
``with_variants`` (in its table's order, so ``a,b`` and ``b,a`` are the same config).
Variant names mean the same in every file: ``quick`` (tiny data, a few dozen steps: demos
and tests), ``cpu`` (a budget a 2-core CPU trains in about an hour or less).
"""

import ml_collections
from ml_collections import config_dict

#: dataset -> image size, slots K, largest instance label, builder config per size variant
DATASETS = {
    "multi_dsprites": {
        "image_size": 64,
        "num_slots": 5,
        "max_label": 4,
        "configs": {"": "full", "quick": "tiny", "cpu": "small_32px"},
    },
    "tetrominoes": {
        "image_size": 32,
        "num_slots": 4,
        "max_label": 3,
        "configs": {"": "full", "quick": "tiny", "cpu": "small"},
    },
}

#: old variant names that still work: name -> the name it is now
ALIASES = {"cpu32": "cpu"}


def base_config() -> ml_collections.ConfigDict:
    """The engine's settings (logging, evaluation, checkpoints, data plumbing, optimiser)."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 32
    c.num_steps = 500_000
    c.log_every = 100
    c.eval_every = 5_000
    c.eval_images = 64  # validation images scored during training
    c.checkpoint_every = 5_000
    c.max_to_keep = 3
    c.evaluators = ""  # comma-separated; "": the family's (ocg_jax/analysis/evaluators.py)
    c.keep_best = ""  # a validation score (e.g. "iou"): its best checkpoint also kept

    c.data = ml_collections.ConfigDict()
    c.data.name = "multi_dsprites"
    c.data.config = "full"
    c.data.data_dir = config_dict.placeholder(str)  # default: tfds's (~/tensorflow_datasets)
    c.data.prepare = True  # generate procedural datasets that are missing
    c.data.manual_dir = config_dict.placeholder(str)  # readers of the user's own files
    c.data.eval_split = "validation"
    c.data.max_label = 4  # largest instance label in the masks
    c.data.num_threads = 0  # host threads decoding examples; 0: one per core, at most 16
    c.data.device_prefetch = 2  # batches copied to the devices ahead of the step

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.learning_rate = 1e-4
    c.optim.grad_clip_norm = 0.0
    return c


def quick_schedule(c: ml_collections.ConfigDict, num_steps: int = 60) -> ml_collections.ConfigDict:
    """The ``quick`` variant's schedule: ``num_steps`` steps, logged every 5, evaluated and
    checkpointed twice, 16 validation images, the last checkpoint kept."""
    c.num_steps = num_steps
    c.log_every = 5
    c.eval_every = c.checkpoint_every = num_steps // 2
    c.eval_images = 16
    c.max_to_keep = 1
    return c


def with_variants(
    c: ml_collections.ConfigDict, variant: str, variants: dict, what: str
) -> ml_collections.ConfigDict:
    """``c`` with the comma-separated ``variant`` names applied, in the order of the
    ``variants`` table (so ``a,b`` and ``b,a`` are the same config)."""
    names = [ALIASES.get(n, n) for n in variant.split(",") if n]
    unknown = sorted(set(names) - set(variants))
    if unknown:
        raise ValueError(
            f"unknown config variant(s) {unknown} for {what}; known: {sorted(variants)}"
        )
    for name, fn in variants.items():
        if name in names:
            c = fn(c)
    return c


def scene_config(dataset: str, model: dict) -> ml_collections.ConfigDict:
    """The GENESIS paper's training setting for the scene models on ``dataset``: GECO, Adam
    1e-4, batch 32, 500k steps; ``model`` the family's settings (the dataset's image size
    and K added)."""
    d = DATASETS[dataset]
    c = base_config()
    c.beta = 0.5  # fixed KL weight when GECO is off
    c.geco = ml_collections.ConfigDict()
    c.geco.enabled = True
    c.geco.goal_per_pixel = 0.5655  # nats per pixel-channel
    c.geco.step_size = 1e-5  # eta at 64x64; scaled by 64^2 / (H * W)
    c.geco.alpha = 0.99
    c.geco.speedup = 10.0
    c.geco.beta_init = 1.0
    c.geco.beta_min = 1e-10
    c.geco.beta_max = 1e10
    c.data.name = dataset
    c.data.config = d["configs"][""]
    c.data.max_label = d["max_label"]
    c.model = ml_collections.ConfigDict(model)
    c.model.image_size = d["image_size"]
    if "num_slots" in c.model:
        c.model.num_slots = d["num_slots"]
    return c


def scene_variants(dataset: str, own: dict | None = None) -> dict:
    """``quick`` and ``cpu`` for a scene model on ``dataset``, after the family's ``own``
    variants (MONet's ``original``)."""
    configs = DATASETS[dataset]["configs"]

    def quick(c):
        c.data.config = configs["quick"]
        c.batch_size = 8
        # GECO is on: its goal is for long runs, so here it lowers beta from 1 (to about
        # 0.5 in 60 steps) while the reconstruction error stays above the goal
        c.optim.learning_rate = 3e-4
        return quick_schedule(c)

    def cpu(c):  # 32x32 images (5k train), thousands of steps on a CPU
        c.data.config = configs["cpu"]
        c.model.image_size = 32
        c.batch_size = 8
        c.num_steps = 2_000
        c.log_every = 50
        c.eval_every = 500
        c.checkpoint_every = 250
        c.optim.learning_rate = 3e-4
        return c

    return {**(own or {}), "quick": quick, "cpu": cpu}
