r"""The pinwheel demonstration over seeds and optimisers, in one process (a few seconds a run).

    python -m experiments.tools.pinwheel_balance [--seeds=0,...,7] \
        [--optimizers=amsgrad,amsgrad_torch] [--data_dir=DIR]

For each optimiser (``config.optim.name``) and each of (beta=0, alpha=1) and (beta=1,
alpha=0), trains ``dd_pinwheel.py``'s 500 full-batch steps per seed
(``ocg_jax.analysis.disentangling.pinwheel_balances``, which the tests run too) and prints
one JSON line: the component balance of
the 400 test encodings per seed, their mean and std.
"""

import json

from absl import flags

from experiments import cli

_SEEDS = flags.DEFINE_list("seeds", [str(s) for s in range(8)], "seeds per setting")
_OPTIMIZERS = flags.DEFINE_list("optimizers", ["amsgrad", "amsgrad_torch"], "optim names")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default: tfds's)")

SETTINGS = {"": "beta=0, alpha=1", "vae": "beta=1, alpha=0"}  # dd_pinwheel variants


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected arguments {argv[1:]}; give flags only")
    import numpy as np

    from experiments.configs import dd_pinwheel
    from ocg_jax.analysis.disentangling import pinwheel_balances

    seeds = [int(s) for s in _SEEDS.value]
    for optimizer in _OPTIMIZERS.value:
        for variant, label in SETTINGS.items():
            config = dd_pinwheel.get_config(variant)
            config.optim.name = optimizer
            vals = pinwheel_balances(config, seeds, _DATA_DIR.value)
            row = {"optimizer": optimizer, "setting": label, "seeds": seeds,
                   "balance": [round(b, 3) for b in vals], "mean": round(float(np.mean(vals)), 3),
                   "std": round(float(np.std(vals)), 3)}  # fmt: skip
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    cli.run(main)
