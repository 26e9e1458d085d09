"""Same-machine reference for ReDO: the original PyTorch networks, timed on one train step.

    pip install torch                                  # not a dependency of ocg_jax
    git clone https://github.com/mickaelChen/ReDO     # the original code, nothing is copied
    python experiments/tools/torch_redo.py --original=ReDO [--batch_size=20 --steps=5 --warmup=1]

Imports ``models.py`` from the user's clone of the original and builds its networks
with the options of its ``train.py`` defaults (128 px, nf 64, z 32, 2 regions, 3
residual blocks in F, orthogonal init with gain 0.8, Adam betas (0, 0.9), F's weight
decay 1e-4).  A step is the original's iteration: F, G and delta on
``-mean D(redrawn) + 5 * err_recZ`` with every region redrawn, then D's hinge loss on
the redrawn images (recomputed without gradients) and an independent real batch of
the same size.  Random pixels stand in for Flowers (the step's cost does not depend on
them).  Prints the JSON line of ``torch_reference.py``; compare it with
``python -m experiments.tools.benchmark --config=experiments/configs/redo_fg_bg.py:128
--batch_size=40`` (ocg_jax's batch holds the 20 redrawn and the 20 real images).
"""

import sys

try:
    import torch
except ImportError:  # not a dependency of ocg_jax
    print("error: this tool times PyTorch code: pip install torch first", file=sys.stderr)
    raise SystemExit(2) from None
from torch_reference import original_args, report


def main():
    # batch: the original's 20 redrawn images
    args = original_args(__doc__, "models.py a clone of mickaelChen/ReDO", 20, 5, 1)
    import models  # the original's networks

    torch.manual_seed(0)
    size, regions, nz, nf = 128, 2, 32, 64
    f = models._netEncM(sizex=size, nIn=3, nMasks=regions, nRes=3, nf=nf)
    g = models._netGenX(sizex=size, nOut=3, nc=nz, nf=nf, nMasks=regions)
    d = models._resDiscriminator128(nIn=3, nf=nf)
    rec = models._netRecZ(sizex=size, nIn=3, nc=nz, nf=nf, nMasks=regions)
    for net in (f, g, d, rec):
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                torch.nn.init.orthogonal_(m.weight, 0.8)
        net.train()

    def adam(net, lr, wd=0.0):  # 0.0: current torch refuses the original's int betas (0, 0.9)
        return torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.9), weight_decay=wd)

    opt_f, opt_g, opt_d, opt_rec = (
        adam(f, 1e-5, 1e-4),
        adam(g, 1e-4),
        adam(d, 1e-4),
        adam(rec, 1e-4),
    )
    b = args.batch_size
    x, x_real = (torch.rand(2, b, 3, size, size) * 2 - 1).unbind(0)  # pixels in [-1, 1]

    def redraw(z):
        masks = f(x)  # [B, n, H, W]
        parts = g(masks, z)  # [B, n, 3, H, W], each region's new pixels times its mask
        redrawn = parts + (1 - masks.unsqueeze(2)) * x.unsqueeze(1)
        return parts, redrawn.view(-1, 3, size, size)

    def step():
        z = torch.randn(b, regions, nz, 1, 1)
        for net in (f, g, d, rec):
            net.zero_grad()
        parts, redrawn = redraw(z)
        err_z = ((z - rec(parts.sum(1))) ** 2).mean()
        (-d(redrawn).mean() + 5.0 * err_z).backward()
        for o in (opt_f, opt_g, opt_rec):
            o.step()
        d.zero_grad()
        with torch.no_grad():
            _, redrawn = redraw(z)
        hinge = torch.relu(1 - d(x_real)).mean() + torch.relu(1 + d(redrawn)).mean()
        hinge.backward()
        opt_d.step()

    modules = torch.nn.ModuleList([f, g, d, rec])
    report(args, modules, step, "redo 128 px (the original's networks, PyTorch)")


if __name__ == "__main__":
    main()
