"""Same-machine reference: train steps written in PyTorch the way the originals are.

    pip install torch           # not a dependency of ocg_jax; any CPU build
    python experiments/tools/torch_reference.py --batch_size=32 [--steps=10 --warmup=2 --threads=N]
    python experiments/tools/torch_reference.py --model=dd_dsprites --batch_size=64

``--model=dd_dsprites`` is Disentangling Disentanglement's dSprites VAE (``DDSprites``).

Prints one JSON line like ``experiments.tools.benchmark``'s (``train_step_ms_median`` over
``steps`` steps after ``warmup``, ``num_params``), so ocg_jax's step can be compared with
PyTorch on the machine at hand: CPUs differ from session to session, and the issue's
"about 10 s" was measured on another one.  This is a re-creation from the facts in
``docs/genesis.md`` and the original's layer types, not the original code: gated convs as
two convs (``h``, ``g``) each with bias and BatchNorm (none on the 16x16-kernel layers),
the mask decoder's stride-2 layers as ``ConvTranspose2d(5, 2, 2, output_padding=1)``, the
16x16-kernel layers as convs, all K mask latents decoded, the likelihood summing ``exp``
directly, Adam + GECO.  PyTorch's defaults otherwise (float32, NCHW, oneDNN convs).
"""

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

try:
    import torch
except ImportError:  # not a dependency of ocg_jax
    print("error: this tool times PyTorch code: pip install torch first", file=sys.stderr)
    raise SystemExit(2) from None
from torch import nn
from torch.nn import functional as F


class Gated(nn.Module):
    """``h * sigmoid(g)`` of two convs (or transposed convs), BatchNorm on both if ``norm``."""

    def __init__(self, conv, cin, cout, k, stride=1, pad=0, out_pad=0, norm=True):
        super().__init__()
        extra = {"output_padding": out_pad} if conv is nn.ConvTranspose2d else {}
        self.h = conv(cin, cout, k, stride, pad, **extra)
        self.g = conv(cin, cout, k, stride, pad, **extra)
        bn = nn.BatchNorm2d if norm else lambda _: nn.Identity()
        self.bn_h, self.bn_g = bn(cout), bn(cout)

    def forward(self, x):
        return self.bn_h(self.h(x)) * torch.sigmoid(self.bn_g(self.g(x)))


def mask_encoder():
    c, s = (3, 32, 32, 64, 64, 64), (1, 2, 1, 2, 1)
    layers = [Gated(nn.Conv2d, c[i], c[i + 1], 5, s[i], 2) for i in range(5)]
    return nn.Sequential(*layers, Gated(nn.Conv2d, 64, 256, 16, norm=False))  # [B, 256, 1, 1]


def mask_decoder():
    t = nn.ConvTranspose2d
    return nn.Sequential(
        Gated(t, 64, 64, 16, norm=False),  # 1x1 -> 16x16
        Gated(t, 64, 64, 5, 1, 2),
        Gated(t, 64, 32, 5, 2, 2, 1),
        Gated(t, 32, 32, 5, 1, 2),
        Gated(t, 32, 32, 5, 2, 2, 1),
        Gated(t, 32, 32, 5, 1, 2),
        nn.Conv2d(32, 1, 1),
    )


def mlp(*sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ELU()]
    return nn.Sequential(*layers[:-1])


class Genesis(nn.Module):
    def __init__(self, k=5, size=64):
        super().__init__()
        self.k, self.size = k, size
        self.enc, self.dec = mask_encoder(), mask_decoder()
        self.z1 = nn.Linear(256, 128)
        self.post_lstm, self.post_out = nn.LSTM(256 + 64, 128), nn.Linear(128, 128)
        self.prior_lstm, self.prior_out = nn.LSTM(64, 256), nn.Linear(256, 128)
        convs = [nn.Conv2d(4, 32, 3, 2, 1), nn.Conv2d(32, 32, 3, 2, 1)]
        convs += [nn.Conv2d(32, 64, 3, 2, 1), nn.Conv2d(64, 64, 3, 2, 1)]
        self.c_enc = nn.Sequential(*[m for c in convs for m in (c, nn.ELU())], nn.Flatten())
        self.c_head = mlp(64 * (size // 16) ** 2, 256, 32)
        dec = [nn.Conv2d(16 + 2, 32, 3), nn.Conv2d(32, 32, 3), nn.Conv2d(32, 32, 3)]
        dec += [nn.Conv2d(32, 32, 3)]
        self.c_dec = nn.Sequential(*[m for c in dec for m in (c, nn.ELU())], nn.Conv2d(32, 3, 1))
        self.c_prior = mlp(64, 256, 256, 32)
        lin = torch.linspace(-1, 1, size + 8)
        self.register_buffer("coords", torch.stack(torch.meshgrid(lin, lin, indexing="ij")))

    @staticmethod
    def gaussian(out, softplus_std=True):
        mean, s = out.chunk(2, -1)
        std = F.softplus(s + 0.5) + 1e-8 if softplus_std else torch.sigmoid(s + 4) + 1e-4
        return torch.distributions.Normal(mean if softplus_std else torch.tanh(mean), std)

    def forward(self, x):
        b, k = x.shape[0], self.k
        h = self.enc(x).flatten(1)
        q = [self.gaussian(self.z1(h))]
        zs = [q[0].rsample()]
        state = None
        for _ in range(k - 1):  # recurrent posterior
            o, state = self.post_lstm(torch.cat([h, zs[-1]], -1)[None], state)
            q.append(self.gaussian(self.post_out(o[0])))
            zs.append(q[-1].rsample())
        zm = torch.stack(zs, 1)  # [B, K, 64]
        logits = self.dec(zm.flatten(0, 1)[:, :, None, None]).view(b, k, 1, self.size, self.size)
        log_masks, log_scope = [], torch.zeros_like(logits[:, 0])
        for i in range(k - 1):  # stick-breaking in log space
            log_masks.append(log_scope + F.logsigmoid(logits[:, i]))
            log_scope = log_scope + F.logsigmoid(-logits[:, i])
        log_m = torch.stack(log_masks + [log_scope], 1)  # [B, K, 1, H, W]
        enc_in = torch.cat([log_m, x[:, None].expand(-1, k, -1, -1, -1)], 2).flatten(0, 1)
        qc = self.gaussian(self.c_head(self.c_enc(enc_in)))
        zc = qc.rsample()  # [B*K, 16]
        grid = zc[:, :, None, None].expand(-1, -1, self.size + 8, self.size + 8)
        coords = self.coords[None].expand(zc.shape[0], -1, -1, -1)
        xhat = torch.sigmoid(self.c_dec(torch.cat([grid, coords], 1))).view(b, k, 3, *x.shape[2:])
        # likelihood as the original: sum of exp, then log
        comp = torch.distributions.Normal(xhat, 0.7).log_prob(x[:, None]).exp()
        nll = -torch.log((log_m.exp() * comp).sum(1) + 1e-12).sum((1, 2, 3)).mean()
        prior_out, _ = self.prior_lstm(zm[:, :-1].transpose(0, 1))  # autoregressive prior
        pm = [torch.distributions.Normal(torch.zeros_like(zs[0]), 1.0)]
        pm += [self.gaussian(self.prior_out(o), False) for o in prior_out]
        kl_m = sum(
            (qi.log_prob(z) - pi.log_prob(z)).sum(-1) for qi, pi, z in zip(q, pm, zs, strict=True)
        )
        pc = self.gaussian(self.c_prior(zm.flatten(0, 1)), False)
        kl_c = (qc.log_prob(zc) - pc.log_prob(zc)).sum(-1).view(b, k).sum(1)
        return nll, (kl_m + kl_c).mean()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class DDSprites(nn.Module):
    """Disentangling Disentanglement's dSprites VAE as its code builds it: four
    ``Conv2d(4, 2, 1)`` + ReLU (32, 32, 64, 64), linear 128, mean and log-variance heads;
    decoder linear 128 + ReLU, linear 1024 + ReLU, ``ConvTranspose2d(4, 2, 1)`` (64, 64, 32,
    1); Bernoulli likelihood on logits, analytic KL to N(0, I)."""

    def __init__(self, latent: int = 10):
        super().__init__()
        convs = [nn.Conv2d(a, b, 4, 2, 1) for a, b in ((1, 32), (32, 32), (32, 64), (64, 64))]
        self.enc = nn.Sequential(*[m for c in convs for m in (c, nn.ReLU())])
        self.lin, self.mu, self.logvar = (
            nn.Linear(1024, 128),
            nn.Linear(128, latent),
            nn.Linear(128, latent),
        )
        self.dec_lin = nn.Sequential(
            nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 1024), nn.ReLU()
        )
        ups = [
            nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in ((64, 64), (64, 32), (32, 32), (32, 1))
        ]
        self.dec = nn.Sequential(*[m for u in ups[:-1] for m in (u, nn.ReLU())], ups[-1])

    def forward(self, x):
        h = self.lin(self.enc(x).flatten(1))
        mu, std = self.mu(h), torch.exp(0.5 * self.logvar(h)) + 1e-6
        z = mu + std * torch.randn_like(std)
        logits = self.dec(self.dec_lin(z).view(-1, 64, 4, 4))
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = (0.5 * (mu**2 + std**2 - 1) - torch.log(std)).sum() / len(x)
        return nll, kl


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("genesis", "dd_dsprites"), default="genesis")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model == "dd_dsprites":
        model = DDSprites()
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)
        x = (torch.rand(args.batch_size, 1, 64, 64) < 0.1).float()

        def step():
            nll, kl = model(x)
            opt.zero_grad()
            (nll + kl).backward()
            opt.step()

        return report(args, model, step, "dd_vae dsprites (PyTorch re-creation)")
    model = Genesis()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randint(0, 256, (args.batch_size, 3, 64, 64)).float() / 255.0
    goal, beta, err_ema = 0.5655 * 3 * 64 * 64, 1.0, None

    def step():
        nonlocal beta, err_ema
        nll, kl = model(x)
        loss = nll + beta * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        # GECO as the original runs it: in Python floats on the host, after the step
        err = nll.item()
        err_ema = err if err_ema is None else 0.99 * err_ema + 0.01 * err
        c = goal - err_ema
        beta = min(max(beta * math.exp(1e-5 * (10 if c > 0 else 1) * c), 1e-10), 1e10)

    report(args, model, step, "genesis (PyTorch re-creation)")


def original_args(doc: str, original: str, batch_size: int, steps: int, warmup: int):
    """The flags of a tool that times an original implementation from the user's copy;
    parses them, sets the threads, and puts ``--original`` (which must hold ``original``'s
    first word, a file) first on ``sys.path``."""
    marker, _, what = original.partition(" ")
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--original", required=True, help=f"the folder of {what} ({marker})")
    p.add_argument("--batch_size", type=int, default=batch_size)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    args = p.parse_args()
    folder = Path(args.original)
    if not (folder / marker).is_file():
        sys.exit(f"--original={folder} holds no {marker}; pass the folder of {what}")
    sys.path.insert(0, str(folder))
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def report(args, model, step, name: str) -> None:
    """Time ``step`` and print the JSON line."""
    for _ in range(args.warmup):
        step()
    times = [timed(step) for _ in range(args.steps)]
    line = {"model": name, "batch_size": args.batch_size}
    line |= {"torch": torch.__version__, "threads": torch.get_num_threads()}
    line |= {"train_step_ms_median": round(1e3 * statistics.median(times), 1)}
    line |= {"train_step_ms_min": round(1e3 * min(times), 1)}
    line |= {"num_params": sum(q.numel() for q in model.parameters())}
    a = torch.ones(2048, 2048)
    best = min(timed(lambda: a @ a) for _ in range(6))  # the minimum skips the cold first call
    line |= {"matmul_gflops": round(2 * 2048**3 / best / 1e9)}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
