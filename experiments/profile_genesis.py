"""Where the GENESIS train step spends its time: forward + backward of each part.

    python -m experiments.profile_genesis --batch_size=32

Times ``grad(sum(out^2))`` of each sub-network on the batch it sees in the
train step (the mask decoder gets (K-1)*B latents, the component nets K*B
items), and the forward pass of the whole model; prints one JSON line.
"""

import json

from absl import flags

from experiments import cli

_BATCH = flags.DEFINE_integer("batch_size", 32, "images per step")
_K = flags.DEFINE_integer("num_slots", 5, "components K")


def main(argv):
    del argv
    import jax
    import jax.numpy as jnp

    from experiments.timing import best_time, time_module
    from ocg_jax.models.registry import get_model
    from ocg_jax.nn.broadcast import BroadcastDecoder
    from ocg_jax.nn.conv import ComponentEncoder, GatedConvEncoder, GatedDeconvDecoder

    b, k = _BATCH.value, _K.value
    parts = {
        "mask_encoder": (GatedConvEncoder(), jnp.ones((b, 64, 64, 3)), True),
        "mask_decoder": (GatedDeconvDecoder(64), jnp.ones(((k - 1) * b, 64)), True),
        "component_encoder": (ComponentEncoder(), jnp.ones((k * b, 64, 64, 4)), False),
        "component_decoder": (BroadcastDecoder(64, 3), jnp.ones((k * b, 16)), False),
    }
    result = {"batch_size": b, "num_slots": k}
    for name, (mod, x, bn) in parts.items():
        fwd_s, both_s = time_module(mod, x, train=True if bn else None)
        result[f"{name}_fwd_s"], result[f"{name}_fwd_bwd_s"] = round(fwd_s, 3), round(both_s, 3)
    model = get_model({"name": "genesis", "num_slots": k})
    x = jax.random.uniform(jax.random.PRNGKey(0), (b, 64, 64, 3))
    v = jax.jit(model.init)(jax.random.PRNGKey(1), x)
    fwd = jax.jit(lambda v, x: model.apply(v, x, jax.random.PRNGKey(0), train=True)[0].recon)
    result["model_fwd_s"] = round(best_time(fwd, v, x), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main)
