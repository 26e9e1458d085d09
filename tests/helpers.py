"""Small real configs for tests: the experiment configs shrunk to 32x32 and narrow nets."""

import importlib

import ml_collections


def tiny_config(
    config_module: str = "genesis_multi_dsprites", data_dir: str | None = None
) -> ml_collections.ConfigDict:
    c = importlib.import_module(f"experiments.configs.{config_module}").get_config("quick")
    c.model.image_size = 32
    c.model.enc_channels = (8, 8, 8, 8, 8)
    c.model.enc_strides = (1, 2, 1, 1, 1)
    c.model.num_slots = 3
    c.data.config = "tiny_32px"
    c.data.data_dir = data_dir
    c.data.num_threads = 1
    c.batch_size = 4
    c.num_steps = 4
    c.log_every = 1
    c.eval_every = 4
    c.eval_images = 4
    c.checkpoint_every = 2
    return c
