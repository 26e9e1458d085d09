"""Model settings of each family, as in the GENESIS paper (``docs/genesis.md``)."""

import ml_collections
from ml_collections import config_dict

#: the mask encoder and decoder (decoder strides mirror the encoder's)
GENESIS_ENCODER = {
    "enc_channels": (32, 32, 64, 64, 64),
    "enc_strides": (1, 2, 1, 2, 1),
    "dec_channels": (64, 32, 32, 32, 32),
}


def model_config(name: str, image_size: int, num_slots: int) -> ml_collections.ConfigDict:
    """``config.model`` for family ``name`` (see ``ocg_jax.models.registry``)."""
    # "bfloat16": convs and matmuls in bfloat16 (accelerators), parameters, optimiser
    # state and losses float32
    m = ml_collections.ConfigDict(
        {"name": name, "image_size": image_size, "compute_dtype": "float32"}
    )
    if name in ("genesis", "genesis_s"):
        m.update(num_slots=num_slots, zm_dim=64, zc_dim=16, sigma=0.7, **GENESIS_ENCODER)
    elif name == "monet":
        m.update(num_slots=num_slots, zc_dim=16, sigma=0.7, unet_channels=(32, 32, 64, 64, 64))
        m.bg_sigma = config_dict.placeholder(float)  # None: every component uses sigma
    elif name in ("dc_vae", "bd_vae"):
        m.update(latent=64, sigma=0.7, **GENESIS_ENCODER)
        if name == "bd_vae":
            del m.dec_channels  # its decoder is the broadcast decoder
    else:
        raise ValueError(f"no model settings for {name!r}")
    return m


def monet_original(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Burgess et al.'s MONet setting: beta = gamma = 0.5 without GECO, sigma 0.09 for the
    background component and 0.11 for the others, RMSprop 1e-4, batch 64."""
    c.geco.enabled = False
    c.beta = 0.5  # on KL_c
    c.kl_weights = ml_collections.ConfigDict({"kl_m": 0.5})  # gamma
    c.model.sigma = 0.11
    c.model.bg_sigma = 0.09
    c.optim.name = "rmsprop"
    c.optim.learning_rate = 1e-4
    c.batch_size = 64
    c.num_steps = 1_000_000  # Burgess et al. train for 1M steps
    return c


#: variants that only some families have: name -> (families, function)
MODEL_VARIANTS = {"original": (("monet",), monet_original)}
