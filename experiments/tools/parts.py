"""The sub-networks of a GENESIS or MONet train step, each with the batch it sees there.

GENESIS: the mask decoder gets (K-1)*B latents, the component nets K*B items; MONet: the
U-Net once per attention step on B images, the component nets K*B items; BD-VAE's decoder
is the same broadcast decoder at 64 channels. ``experiments.tools.profile_parts`` times them.
"""


def genesis_parts(b: int, k: int, s: int = 64) -> dict:
    """``{name: (module, input, has batch norm)}``."""
    import jax.numpy as jnp

    from ocg_jax.nn.broadcast import BroadcastDecoder
    from ocg_jax.nn.conv import ComponentEncoder, GatedConvEncoder, GatedDeconvDecoder

    return {
        "mask_encoder": (GatedConvEncoder(), jnp.ones((b, s, s, 3)), True),
        "mask_decoder": (GatedDeconvDecoder(s), jnp.ones(((k - 1) * b, 64)), True),
        "component_encoder": (ComponentEncoder(), jnp.ones((k * b, s, s, 4)), False),
        "component_decoder": (BroadcastDecoder(s, 3), jnp.ones((k * b, 16)), False),
    }


def monet_parts(b: int, k: int, s: int = 64) -> dict:
    import flax.linen as nn
    import jax.numpy as jnp

    from ocg_jax.nn.broadcast import BroadcastDecoder
    from ocg_jax.nn.conv import ComponentEncoder
    from ocg_jax.nn.unet import UNet

    images, items = jnp.ones((k * b, s, s, 4)), jnp.ones((k * b, 16))
    return {
        "unet_one_step": (UNet(), jnp.ones((b, s, s, 4)), False),
        "component_encoder": (ComponentEncoder(activation=nn.relu), images, False),
        "component_decoder": (BroadcastDecoder(s, 4, activation=nn.relu), items, False),
        "bd_vae_decoder": (BroadcastDecoder(s, 64, hidden=64), jnp.ones((b, 64)), False),
    }
