"""Where the MONet train step spends its time: forward + backward of each part.

    python -m experiments.profile_monet --batch_size=32

Times ``grad(sum(out^2))`` of each sub-network on the batch it sees in the train
step (the U-Net once per attention step, on B images; the component nets on K*B
items); prints one JSON line.  BD-VAE's decoder is the same broadcast decoder at
64 channels.
"""

import json

from absl import flags

from experiments import cli

_BATCH = flags.DEFINE_integer("batch_size", 32, "images per step")
_K = flags.DEFINE_integer("num_slots", 5, "components K")


def main(argv):
    del argv
    import flax.linen as nn
    import jax.numpy as jnp

    from experiments.timing import time_module
    from ocg_jax.nn.broadcast import BroadcastDecoder
    from ocg_jax.nn.conv import ComponentEncoder
    from ocg_jax.nn.unet import UNet

    b, k = _BATCH.value, _K.value
    parts = {
        "unet_one_step": (UNet(), jnp.ones((b, 64, 64, 4))),
        "component_encoder": (ComponentEncoder(activation=nn.relu), jnp.ones((k * b, 64, 64, 4))),
        "component_decoder": (BroadcastDecoder(64, 4, activation=nn.relu), jnp.ones((k * b, 16))),
        "bd_vae_decoder": (BroadcastDecoder(64, 64, hidden=64), jnp.ones((b, 64))),
    }
    result = {"batch_size": b, "num_slots": k}
    for name, (mod, x) in parts.items():
        fwd_s, both_s = time_module(mod, x)
        result[f"{name}_fwd_s"], result[f"{name}_fwd_bwd_s"] = round(fwd_s, 3), round(both_s, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main)
