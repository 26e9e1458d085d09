"""AIR: Attend, Infer, Repeat (Eslami et al., NeurIPS 2016), and DAIR.

Up to ``steps`` objects per image, inferred one at a time.  Per step an LSTM
(256) reads the image (DAIR: the image minus the reconstruction so far) and
the previous step's latents; an MLP (200) gives ``z_pres ~ Bernoulli`` (0 for
good once a step is 0, so the count is the number of leading ones) and
``z_where = (s, x, y) ~ N`` (``ocg_jax.nn.transformer``'s convention); a
glimpse read through ``z_where`` gives ``z_what ~ N`` (50-d) by an MLP (200); a
decoder MLP (200, output bias -2, sigmoid) paints a window that is written back
and added to the canvas.  Likelihood ``N(x; canvas, sigma^2)`` per pixel.

Priors: ``z_where ~ N((3, 0, 0), (0.2, 1, 1))``, ``z_what ~ N(0, I)``, and the
count ``n`` truncated geometric, ``p(n) ∝ k^n`` for ``n = 0..steps`` (one per-step
success probability each; not annealed).  ``z_pres`` learns by REINFORCE with a
per-step signal (the reconstruction plus the KL terms of that step and later
ones) minus a learned baseline: its own LSTM (256) over detached inputs, in the
``baseline`` parameter group (``score_function`` recipe).

Two departures from the original's start, both switchable (``where_offset``,
``pres_bias``): with them and NVIL's signal normalisation the count is learnt in a
few thousand steps; without, every run we tried stalled at 33% (``docs/air.md``).

Images: ``[B, S, S, 1]`` in [0, 1].
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ocg_jax.models.base import Array, InputSpec, Variables
from ocg_jax.nn.transformer import read_glimpse, window_box, write_window
from ocg_jax.objectives.kl import gaussian_kl, gaussian_log_prob
from ocg_jax.objectives.reinforce import ScoreTerms


@struct.dataclass
class AIROutputs:
    recon: Array  # [B, S, S, 1] the canvas (Gaussian means)
    losses: dict  # per example [B]: nll, kl_pres, kl_where, kl_what
    z_pres: Array  # [B, T] 0/1, leading ones
    z_where: Array  # [B, T, 3]
    z_what: Array  # [B, T, D]
    windows: Array  # [B, T, A, A] each step's decoded window (before z_pres)
    count: Array  # [B] int32, sum of z_pres
    score_terms: ScoreTerms | None = None  # [B, T] each; None from the prior


def count_prior(steps: int, k: float) -> tuple[float, ...]:
    """Per-step success probabilities of the truncated geometric ``p(n) ∝ k^n``, n = 0..steps:
    ``P(z_t = 1 | z_<t = 1) = sum_{m>t} k^m / sum_{m>=t} k^m``."""
    tail = [sum(k**m for m in range(t, steps + 1)) for t in range(steps + 1)]
    return tuple(tail[t + 1] / tail[t] for t in range(steps))


def annealed_prior(steps: int, k: float, start: float, duration: int, step) -> Array:
    """Per-step success probabilities ``[steps]`` at training ``step``: from ``start`` (each
    step) to ``count_prior(steps, k)``, exponentially (linear in log-probability) over
    ``duration`` steps; ``start = 0`` gives the final prior from the start."""
    final = jnp.log(jnp.asarray(count_prior(steps, k)))
    if not start:
        return jnp.exp(final)
    f = jnp.clip(jnp.asarray(step, jnp.float32) / duration, 0.0, 1.0)
    return jnp.exp((1 - f) * jnp.log(start) + f * final)


class MLP(nn.Module):
    """One ReLU hidden layer; ``out_bias`` initialises the output layer's bias."""

    hidden: int
    out: int
    out_bias: float | tuple[float, ...] = 0.0  # one value, or one per output

    @nn.compact
    def __call__(self, x: Array) -> Array:
        x = nn.relu(nn.Dense(self.hidden)(x))
        bias = lambda *_: jnp.broadcast_to(jnp.asarray(self.out_bias, jnp.float32), (self.out,))
        return nn.Dense(self.out, bias_init=bias)(x)


class AIRStep(nn.Module):
    """One inference-and-generation step; scanned over the steps by ``AIRNet``."""

    image_size: int
    window: int
    lstm: int
    hidden: int
    z_what: int
    where_prior_loc: tuple[float, float, float]
    where_prior_scale: tuple[float, float, float]
    difference: bool
    decoder_bias: float
    where_offset: bool
    pres_bias: float
    deterministic: bool

    @nn.compact
    def __call__(self, carry, prior_p, image):
        (c, h), pres, where, what, canvas = carry
        b = image.shape[0]
        seen = image - canvas if self.difference else image
        inp = jnp.concatenate([seen.reshape(b, -1), where, what, pres], axis=-1)
        (c, h), _ = nn.OptimizedLSTMCell(self.lstm, name="lstm")((c, h), inp)

        pred = MLP(self.hidden, 7, (self.pres_bias,) + (0.0,) * 6, name="predict")(h)
        p = nn.sigmoid(pred[:, 0]) * pres[:, 0]  # 0 once a step was 0
        where_loc = pred[:, 1:4]  # as the original: s near 0 at first, far from the prior
        if self.where_offset:  # or an offset from the prior mean: windows of the prior's size
            where_loc = where_loc + jnp.asarray(self.where_prior_loc)
        where_scale = nn.softplus(pred[:, 4:7]) + 1e-4
        rng_pres, rng_where, rng_what = jax.random.split(self.make_rng("sample"), 3)
        if self.deterministic:  # evaluation: modes
            z_pres = (p > 0.5).astype(jnp.float32)
            z_where = where_loc
        else:
            z_pres = (jax.random.uniform(rng_pres, p.shape) < p).astype(jnp.float32)
            z_where = where_loc + where_scale * jax.random.normal(rng_where, where_loc.shape)

        glimpse = read_glimpse(image[..., 0], z_where, self.window).reshape(b, -1)
        enc = MLP(self.hidden, 2 * self.z_what, name="encoder")(glimpse)
        what_loc, what_scale = enc[:, : self.z_what], nn.softplus(enc[:, self.z_what :]) + 1e-4
        if self.deterministic:
            z_what = what_loc
        else:
            z_what = what_loc + what_scale * jax.random.normal(rng_what, what_loc.shape)

        logits = MLP(self.hidden, self.window**2, self.decoder_bias, name="decoder")(z_what)
        window = nn.sigmoid(logits).reshape(b, self.window, self.window)
        painted = write_window(window, z_where, self.image_size)[..., None]
        canvas = canvas + z_pres[:, None, None, None] * painted

        mask = pres[:, 0]  # the step's z_pres was drawn (not forced to 0)
        pc = jnp.clip(p, 1e-6, 1 - 1e-6)
        log_q = mask * (z_pres * jnp.log(pc) + (1 - z_pres) * jnp.log1p(-pc))
        log_prior = z_pres * jnp.log(prior_p) + (1 - z_pres) * jnp.log1p(-prior_p)
        kl_where = gaussian_kl(
            where_loc,
            where_scale,
            jnp.asarray(self.where_prior_loc),
            jnp.asarray(self.where_prior_scale),
        )
        step = {
            "z_pres": z_pres,
            "z_where": z_where,
            "z_what": z_what,
            "window": window,
            "log_q": log_q,
            "mask": mask,
            "kl_pres": log_q - mask * log_prior,
            "kl_where": z_pres * kl_where.sum(-1),
            "kl_what": z_pres * gaussian_kl(what_loc, what_scale, 0.0, 1.0).sum(-1),
        }
        carry = ((c, h), z_pres[:, None], z_where, z_what, canvas)
        return carry, step


class AIRNet(nn.Module):
    """``images [B, S, S, 1]`` in [0, 1] -> per-step latents and the canvas."""

    image_size: int = 50
    steps: int = 3
    window: int = 20
    lstm: int = 256
    hidden: int = 200
    z_what: int = 50
    sigma: float = 0.3
    where_prior_loc: tuple[float, float, float] = (3.0, 0.0, 0.0)
    where_prior_scale: tuple[float, float, float] = (0.2, 1.0, 1.0)
    count_prior_k: float = 0.01
    anneal_from: float = 0.0  # > 0: the count prior starts at this success probability
    anneal_steps: int = 10_000  # and reaches the geometric one after these steps
    # how learning starts (docs/air.md; the original: False, 0.0): z_where's mean predicted as
    # an offset from the prior's, so windows have the prior's size at once, and z_pres's
    # logit biased so that steps start mostly off and are switched on as they pay
    where_offset: bool = True
    pres_bias: float = -4.0
    difference: bool = False  # DAIR
    decoder_bias: float = -2.0

    def _step(self, deterministic: bool):
        return nn.scan(
            AIRStep,
            variable_broadcast="params",
            split_rngs={"params": False, "sample": True},
            in_axes=(0, nn.broadcast),
            length=self.steps,
        )(
            self.image_size,
            self.window,
            self.lstm,
            self.hidden,
            self.z_what,
            self.where_prior_loc,
            self.where_prior_scale,
            self.difference,
            self.decoder_bias,
            self.where_offset,
            self.pres_bias,
            deterministic,
            name="step",
        )

    @nn.compact
    def __call__(self, images: Array, train: bool = True, step=0):
        b = images.shape[0]
        zeros = lambda *s: jnp.zeros((b, *s), jnp.float32)
        carry = (
            (zeros(self.lstm), zeros(self.lstm)),
            jnp.ones((b, 1), jnp.float32),
            zeros(3),
            zeros(self.z_what),
            jnp.zeros_like(images),
        )
        (_, _, _, _, canvas), out = self._step(not train)(carry, net_prior(self, step), images)
        out = jax.tree.map(lambda v: jnp.moveaxis(v, 0, 1), out)  # [T, B, ...] -> [B, T, ...]
        return canvas, out


def net_prior(net: AIRNet, step) -> Array:
    """``net``'s count prior: per-step success probabilities ``[steps]`` at training ``step``."""
    return annealed_prior(net.steps, net.count_prior_k, net.anneal_from, net.anneal_steps, step)


class AIRBaseline(nn.Module):
    """Per-step baselines ``[B, T]`` from detached inputs: an LSTM over the image and the
    previous step's latents, then a linear read-out."""

    lstm: int = 256

    @nn.compact
    def __call__(self, images: Array, z_pres: Array, z_where: Array, z_what: Array) -> Array:
        b, steps = z_pres.shape
        flat = images.reshape(b, -1)
        prev = lambda z, first: jnp.concatenate([first, z[:, :-1]], axis=1)
        inputs = jnp.concatenate(
            [
                prev(z_pres[..., None], jnp.ones((b, 1, 1))),
                prev(z_where, jnp.zeros((b, 1, 3))),
                prev(z_what, jnp.zeros((b, 1, z_what.shape[-1]))),
            ],
            axis=-1,
        )
        cell = nn.OptimizedLSTMCell(self.lstm, name="lstm")
        carry = (jnp.zeros((b, self.lstm)), jnp.zeros((b, self.lstm)))
        readout = nn.Dense(1, name="readout")
        out = []
        for t in range(steps):  # 3 steps: unrolled
            carry, h = cell(carry, jnp.concatenate([flat, inputs[:, t]], axis=-1))
            out.append(readout(h)[:, 0])
        return jnp.stack(out, axis=1)


@dataclasses.dataclass(frozen=True)
class AIR:
    """AIR behind the model contract (``ocg_jax.models.base``); ``score_function`` recipe."""

    net: AIRNet
    name: str = "air"
    recipe: str = "score_function"
    kl_terms: tuple[str, ...] = ("kl_pres", "kl_where", "kl_what")
    baseline_group: str = "baseline"
    label_fields: tuple[str, ...] = ("num_objects",)
    counts_objects = True  # evaluate reports counting scores (ocg_jax.analysis.counting)

    def __post_init__(self):
        n = self.net
        if n.where_prior_loc[0] <= 0:
            raise ValueError(
                f"the z_where prior's scale mean must be positive (the window covers 1/s of "
                f"the image), got where_prior_loc={n.where_prior_loc}"
            )
        if min(n.where_prior_scale) <= 0 or n.sigma <= 0:
            raise ValueError("where_prior_scale and sigma must be positive")
        if not 0 < n.count_prior_k:
            raise ValueError(f"count_prior_k must be positive, got {n.count_prior_k}")
        if not 0 <= n.anneal_from < 1 or n.anneal_steps < 1:
            raise ValueError(
                f"anneal_from must lie in [0, 1) and anneal_steps be >= 1, got {n.anneal_from}, "
                f"{n.anneal_steps}"
            )
        if n.steps < 1 or n.window < 2 or n.window > n.image_size:
            raise ValueError(f"need steps >= 1 and 2 <= window <= image_size, got {n}")

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, 1))

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        p_rng, s_rng, b_rng = jax.random.split(rng, 3)
        net = self.net.init({"params": p_rng, "sample": s_rng}, batch, train=False)["params"]
        b, n = batch.shape[0], self.net
        latents = (
            jnp.zeros((b, n.steps)),
            jnp.zeros((b, n.steps, 3)),
            jnp.zeros((b, n.steps, n.z_what)),
        )
        bl = AIRBaseline(n.lstm).init(b_rng, batch, *latents)
        step = jnp.zeros((), jnp.int32)  # training steps so far: the count prior's schedule
        return {"params": {"model": net, "baseline": bl["params"]}, "schedule": {"step": step}}

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        self.input_spec.check(images)
        params = variables["params"]
        step = variables.get("schedule", {}).get("step", 0)
        canvas, st = self.net.apply(
            {"params": params["model"]}, images, train=train, step=step, rngs={"sample": rng}
        )
        sg = jax.lax.stop_gradient
        baseline = AIRBaseline(self.net.lstm).apply(
            {"params": params["baseline"]},
            sg(images),
            sg(st["z_pres"]),
            sg(st["z_where"]),
            sg(st["z_what"]),
        )
        nll = -jnp.sum(gaussian_log_prob(images, canvas, self.net.sigma), axis=(1, 2, 3))
        kl = st["kl_pres"] + st["kl_where"] + st["kl_what"]  # [B, T]
        later = jnp.flip(jnp.cumsum(jnp.flip(kl, 1), 1), 1)  # KL of steps t..T-1
        terms = ScoreTerms(
            log_prob=st["log_q"], signal=nll[:, None] + later, baseline=baseline, mask=st["mask"]
        )
        losses = {"nll": nll, **{k: st[k].sum(1) for k in self.kl_terms}}
        out = AIROutputs(
            recon=canvas,
            losses=losses,
            z_pres=st["z_pres"],
            z_where=st["z_where"],
            z_what=st["z_what"],
            windows=st["window"],
            count=st["z_pres"].sum(1).astype(jnp.int32),
            score_terms=terms,
        )
        if "schedule" not in variables:
            return out, {}
        return out, {"schedule": {"step": step + 1 if train else step}}

    def sample(self, variables: Variables, rng: Array, num: int) -> AIROutputs:
        """``num`` scenes from the prior (composed canvases and their latents)."""
        n = self.net
        params = variables["params"]["model"]["step"]
        r_pres, r_where, r_what = jax.random.split(rng, 3)
        steps = n.steps
        rho = net_prior(n, variables.get("schedule", {}).get("step", 0))
        draws = jax.random.uniform(r_pres, (num, steps)) < rho
        z_pres = jnp.cumprod(draws, axis=1).astype(jnp.float32)
        z_where = jnp.asarray(n.where_prior_loc) + jnp.asarray(
            n.where_prior_scale
        ) * jax.random.normal(r_where, (num, steps, 3))
        z_what = jax.random.normal(r_what, (num, steps, n.z_what))
        decoder = MLP(n.hidden, n.window**2, n.decoder_bias)
        logits = decoder.apply({"params": params["decoder"]}, z_what)
        windows = nn.sigmoid(logits).reshape(num, steps, n.window, n.window)
        painted = jax.vmap(lambda w, z: write_window(w, z, n.image_size), in_axes=1, out_axes=1)(
            windows, z_where
        )
        canvas = jnp.sum(z_pres[..., None, None] * painted, axis=1)[..., None]
        count = z_pres.sum(1).astype(jnp.int32)
        return AIROutputs(canvas, {}, z_pres, z_where, z_what, windows, count)

    def features(self, outputs: AIROutputs, *, sample: bool = True) -> Array:
        """``[B, T * (1 + 3 + D)]``: each step's z_pres, z_where and z_what (zero when off)."""
        del sample  # eval-mode outputs hold the means already
        pres = outputs.z_pres[..., None]
        parts = [pres, pres * outputs.z_where, pres * outputs.z_what]
        return jnp.concatenate(parts, axis=-1).reshape(pres.shape[0], -1)

    def pictures(self, images, outputs: AIROutputs, samples: AIROutputs) -> dict:
        """``{"reconstructions", "samples"}`` uint8 grids: boxes in each step's colour over
        the inputs and reconstructions, each step's window; prior samples likewise."""
        from ocg_jax import viz  # host-side drawing

        size = self.input_spec.shape[0]
        grid = lambda imgs, out: viz.box_grid(
            self.input_spec,
            imgs,
            out.recon,
            np.asarray(window_box(out.z_where, size)),
            np.asarray(out.z_pres) > 0,
            out.windows,
        )
        sample_images = np.asarray(
            np.clip(np.round(np.asarray(samples.recon) * 255), 0, 255), np.uint8
        )
        return {"reconstructions": grid(images, outputs), "samples": grid(sample_images, samples)}

    def check_data(self, batch: dict) -> None:
        """Host-side check of a data batch: no canvas may hold more objects than steps."""
        if "num_objects" in batch and int(np.max(batch["num_objects"])) > self.net.steps:
            raise ValueError(
                f"the data has canvases with {int(np.max(batch['num_objects']))} objects but "
                f"the model infers at most {self.net.steps} (config.model.steps); raise it or "
                "train on data with fewer objects"
            )

    def batch_metrics(self, outputs: AIROutputs, batch: dict) -> dict:
        """``count_acc``: the batch's share of images whose count is right."""
        if "num_objects" not in batch:
            return {}
        return {"count_acc": jnp.mean(outputs.count == batch["num_objects"])}

    def example_metrics(self, outputs: AIROutputs, batch: dict) -> dict:
        """``count_acc`` per example ``[B]`` (1 right, 0 wrong) and ``count`` ``[B]``."""
        out = {"count": outputs.count.astype(jnp.float32)}
        if "num_objects" in batch:
            out["count_acc"] = (outputs.count == batch["num_objects"]).astype(jnp.float32)
        return out
