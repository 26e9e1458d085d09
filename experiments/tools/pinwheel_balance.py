r"""The pinwheel demonstration over seeds and optimisers, in one process (a few seconds a run).

    python -m experiments.tools.pinwheel_balance [--seeds=0,...,7] \
        [--optimizers=amsgrad,amsgrad_torch] [--data_dir=DIR]

For each optimiser (``config.optim.name``) and each of (beta=0, alpha=1) and (beta=1,
alpha=0), trains ``dd_pinwheel.py``'s 500 full-batch steps per seed
(``ocg_jax.analysis.disentangling.pinwheel_scores``, which the tests run too) and prints
one JSON line: per seed, the 400 test encodings' component balance, the components given
at least 5% of them, and their mean log p(z) under the prior; mean and std of each.
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
    from ocg_jax.analysis.disentangling import pinwheel_scores

    seeds = [int(s) for s in _SEEDS.value]
    for optimizer in _OPTIMIZERS.value:
        for variant, label in SETTINGS.items():
            config = dd_pinwheel.get_config(variant)
            config.optim.name = optimizer
            scores = pinwheel_scores(config, seeds, _DATA_DIR.value)
            row = {"optimizer": optimizer, "setting": label, "seeds": seeds}
            for key in ("component_balance", "components_used", "prior_log_likelihood"):
                vals = [s[key] for s in scores]
                row[key] = [round(v, 3) for v in vals]
                row[f"{key}_mean"] = round(float(np.mean(vals)), 3)
                row[f"{key}_std"] = round(float(np.std(vals)), 3)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    cli.run(main)
