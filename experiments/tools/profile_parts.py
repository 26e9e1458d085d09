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
from experiments.tools.parts import genesis_parts, monet_parts

_MODEL = flags.DEFINE_enum("model", "genesis", ["genesis", "monet"], "whose parts")
_BATCH = flags.DEFINE_integer("batch_size", 32, "images per step")
_K = flags.DEFINE_integer("num_slots", 5, "components K")
_SIZE = flags.DEFINE_integer("image_size", 64, "image side (the papers': 64)")


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
