"""Where a GENESIS or MONet train step spends its time: forward + backward of each part.

    python -m experiments.tools.profile_parts --model=genesis --batch_size=32
    python -m experiments.tools.profile_parts --model=monet --batch_size=32

Times ``grad(sum(out^2))`` of each sub-network on the batch it sees in the train step
(GENESIS: the mask decoder gets (K-1)*B latents, the component nets K*B items; MONet:
the U-Net once per attention step on B images, the component nets K*B items; BD-VAE's
decoder is the same broadcast decoder at 64 channels), and for GENESIS the forward pass
of the whole model; prints one JSON line.
"""

import json

from absl import flags

from experiments import cli

_MODEL = flags.DEFINE_enum("model", "genesis", ["genesis", "monet"], "whose parts")
_BATCH = flags.DEFINE_integer("batch_size", 32, "images per step")
_K = flags.DEFINE_integer("num_slots", 5, "components K")
_SIZE = flags.DEFINE_integer("image_size", 64, "image side (the papers': 64)")


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


def whole_genesis_forward_s(b: int, k: int, s: int = 64) -> float:
    import jax

    from experiments.tools.timing import best_time
    from ocg_jax.models.registry import get_model

    model = get_model({"name": "genesis", "num_slots": k, "image_size": s})
    x = jax.random.uniform(jax.random.PRNGKey(0), (b, s, s, 3))
    v = jax.jit(model.init)(jax.random.PRNGKey(1), x)
    fwd = jax.jit(lambda v, x: model.apply(v, x, jax.random.PRNGKey(0), train=True)[0].recon)
    return best_time(fwd, v, x)


def main(argv):
    del argv
    from experiments.tools.timing import time_module

    b, k, s = _BATCH.value, _K.value, _SIZE.value
    parts = (genesis_parts if _MODEL.value == "genesis" else monet_parts)(b, k, s)
    result = {"model": _MODEL.value, "batch_size": b, "num_slots": k, "image_size": s}
    for name, (mod, x, bn) in parts.items():
        fwd_s, both_s = time_module(mod, x, train=True if bn else None)
        result[f"{name}_fwd_s"], result[f"{name}_fwd_bwd_s"] = round(fwd_s, 3), round(both_s, 3)
    if _MODEL.value == "genesis":
        result["model_fwd_s"] = round(whole_genesis_forward_s(b, k, s), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main)
