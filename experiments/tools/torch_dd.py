"""Same-machine reference for Disentangling Disentanglement: the original dSprites VAE, timed.

    pip install torch        # not a dependency of ocg_jax; torchvision is not needed
    git clone https://github.com/iffsid/disentangling-disentanglement   # nothing is copied
    python experiments/tools/torch_dd.py --original=disentangling-disentanglement/src \
        [--batch_size=64 --steps=20 --warmup=3 --threads=N]

Imports the original's ``models.vae_dsprites.DSPRITES`` and ``objectives.decomp_objective``
from the user's clone and runs its ``main.py`` train iteration: ``zero_grad``, the negated
decomposed objective (K = 1, beta 1, alpha 0, no regulariser; an isotropic Normal prior
and posterior, latent 10), ``backward``, ``Adam(lr=5e-4, amsgrad=True)``'s step and the
loss read back with ``.item()``.  Distribution arguments go unchecked, as in the PyTorch
the original was written for (it passes logits where ``probs`` are checked since 1.8).
Its plotting imports (torchvision, seaborn) get no-op stand-ins where they are missing:
the step uses neither.  Random binary images stand in for dSprites (the step's cost does
not depend on them).  Prints the JSON line of
``torch_reference.py``; compare it with ``python -m experiments.tools.benchmark
--config=experiments/configs/dd_dsprites.py --batch_size=64``.
"""

import sys
import types

try:
    import torch
except ImportError:  # not a dependency of ocg_jax
    print("error: this tool times PyTorch code: pip install torch first", file=sys.stderr)
    raise SystemExit(2) from None
from torch_reference import original_args, report


def _stand_ins() -> None:
    """Modules that answer every name with a no-op, for the original's plotting imports
    (torchvision, seaborn) where they are not installed: the timed step draws nothing."""
    for name in ("torchvision", "torchvision.datasets", "torchvision.transforms",
                 "torchvision.utils", "seaborn"):  # fmt: skip
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            module.__getattr__ = _no_op_attribute
            sys.modules[name] = module


def _no_op_attribute(attr: str):
    if attr.startswith("__"):  # __path__, __spec__, ...: a plain module, not a package
        raise AttributeError(attr)
    return lambda *args, **kwargs: None


def main():
    args = original_args(__doc__, "objectives.py the original's src/", 64, 20, 3)
    _stand_ins()
    # the original passes logits as RelaxedBernoulli's probs (its log_prob override reads them
    # as logits); PyTorch checked no arguments then, and since 1.8 does by default
    torch.distributions.Distribution.set_default_validate_args(False)
    import objectives  # the original's
    from models.vae_dsprites import DSPRITES

    # main.py's flags for a dSprites run: Normal prior and posterior, isotropic, latent 10
    params = types.SimpleNamespace(
        prior="Normal", posterior="Normal", latent_dim=10, prior_variance="iso",
        prior_variance_scale=1.0, learn_prior_variance=False, gamma=0.8, df=2.0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = DSPRITES(params)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=5e-4, amsgrad=True, betas=(0.9, 0.999))
    x = (torch.rand(args.batch_size, 1, 64, 64) > 0.9).float()

    def step():
        optimizer.zero_grad()
        loss = -objectives.decomp_objective(model, x, K=1, beta=1.0, alpha=0.0, regs=None)
        loss.backward()
        optimizer.step()
        loss.item()

    report(args, model, step, "dd_dsprites (the original's DSPRITES VAE, decomp_objective)")


if __name__ == "__main__":
    main()
