"""Same-machine reference for AIR: Pyro's own example, timed on one SVI step.

    pip install torch pyro-ppl                      # not dependencies of ocg_jax
    git clone https://github.com/pyro-ppl/pyro      # the original code, nothing is copied
    python experiments/tools/torch_air.py --original=pyro/examples/air [--batch_size=64 \
        --steps=10 --warmup=2]

Imports ``air.py`` from the user's clone of Pyro's ``examples/air`` and builds its model
with the tutorial's settings (``-blr 0.1 --z-pres-prior 0.01 --scale-prior-sd 0.2
--predict-net 200 --bl-predict-net 200 --decoder-output-use-sigmoid
--decoder-output-bias -2``) at this library's canvas: 50x50, 3 steps, 20 px windows,
LSTM 256, z_what 50.  A step is ``svi.step`` with ``TraceGraph_ELBO`` and Adam (1e-4,
the baseline 0.1), as ``main.py`` runs it.  Random pixels stand in for the digits (the
step's cost does not depend on them).  Prints the JSON line of ``torch_reference.py``;
compare it with ``python -m experiments.tools.benchmark
--config=experiments/configs/air_multi_digits.py:pyro --batch_size=64``.
"""

import sys

try:
    import torch
except ImportError:  # not a dependency of ocg_jax
    print("error: this tool times PyTorch code: pip install torch first", file=sys.stderr)
    raise SystemExit(2) from None
from torch_reference import original_args, report


def main():
    args = original_args(__doc__, "air.py pyro's examples/air", 64, 10, 2)
    import pyro
    import pyro.optim as optim
    from air import AIR  # Pyro's model and guide
    from pyro.infer import SVI, TraceGraph_ELBO

    pyro.set_rng_seed(0)
    air = AIR(
        num_steps=3, x_size=50, window_size=20, z_what_size=50, rnn_hidden_size=256,
        encoder_net=[200], decoder_net=[200], predict_net=[200], bl_predict_net=[200],
        decoder_output_bias=-2.0, decoder_output_use_sigmoid=True, scale_prior_sd=0.2,
    )  # fmt: skip
    k = 0.01  # --z-pres-prior 0.01: the truncated geometric's per-step probabilities
    u = 1 / (1 + k + k**2 + k**3)
    p0 = 1 - u
    p1 = 1 - (k * u) / p0
    probs = [p0, p1, 1 - (k**2 * u) / (p0 * p1)]
    lr = lambda name: {"lr": 0.1 if "bl_" in name else 1e-4}  # noqa: E731
    svi = SVI(air.model, air.guide, optim.Adam(lr), loss=TraceGraph_ELBO())
    x = torch.rand(args.batch_size, 50, 50)

    def step():
        svi.step(x, batch_size=args.batch_size, z_pres_prior_p=lambda t: probs[t])

    report(args, air, step, "air (Pyro's examples/air, TraceGraph_ELBO)")


if __name__ == "__main__":
    main()
