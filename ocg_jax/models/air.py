"""AIR: Attend, Infer, Repeat (Eslami et al., NeurIPS 2016), and DAIR.

Up to ``steps`` objects per image, inferred one at a time.  Per step an LSTM
(256, its initial state learned) reads the image (DAIR: the image minus the
reconstruction so far) and the previous step's latents (learned ones before the
first step); an MLP (200) gives ``z_pres ~ Bernoulli`` (0 for good once a step
is 0, so the count is the number of leading ones) and ``z_where = (s, x, y) ~
N(loc + prior loc, scale * prior scale)`` (``ocg_jax.nn.transformer``'s
convention), as Pyro's port parametrises it; a glimpse read through ``z_where``
gives ``z_what ~ N`` (50-d) by an MLP (200); a decoder MLP (200) paints a window,
``sigmoid(out + decoder_output_bias)``, that is written back and added to the
canvas.  Likelihood ``N(x; canvas, sigma^2)`` per pixel.

Priors: ``z_where ~ N((3, 0, 0), (0.2, 1, 1))``, ``z_what ~ N(0, I)``, and the
count ``n`` truncated geometric, ``p(n) ∝ k^n`` for ``n = 0..steps`` (fixed, as
Pyro; or annealed from ``anneal_from``, as the paper).  ``z_pres`` learns by
REINFORCE with a per-step signal (the reconstruction plus the KL terms of that
step and later ones) minus a learned baseline: its own LSTM (256) over detached
inputs and an MLP read-out (``baseline_hidden``; 0: linear), in the ``baseline``
parameter group (``score_function`` recipe).  ``docs/air.md`` gives every
setting's source and the ablation of each departure.

Images: ``[B, S, S, 1]`` in [0, 1].
"""

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ocg_jax import viz
from ocg_jax.models.base import Array, Family, InputSpec, Variables, sample_fn
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
    """One ReLU hidden layer (none for ``hidden=0``: linear); ``out_bias`` initialises the
    output layer's bias."""

    hidden: int
    out: int
    out_bias: float | tuple[float, ...] = 0.0  # one value, or one per output

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.hidden:
            x = nn.relu(nn.Dense(self.hidden)(x))
        bias = lambda *_: jnp.broadcast_to(jnp.asarray(self.out_bias, jnp.float32), (self.out,))
        return nn.Dense(self.out, bias_init=bias)(x)


SCALE_FLOOR = 1e-4  # added to softplus scales (Pyro has none): keeps log-densities finite


def decode_window(decoder: nn.Module, z_what: Array, window: int, bias, sigmoid: bool) -> Array:
    """``z_what [B, D] -> [B, A, A]``: ``sigmoid(decoder(z_what) + bias)`` (the sigmoid and
    the fixed ``bias`` as Pyro's ``--decoder-output-use-sigmoid`` / ``-bias`` options)."""
    out = decoder(z_what)
    if bias is not None:
        out = out + bias
    out = nn.sigmoid(out) if sigmoid else out
    return out.reshape(z_what.shape[0], window, window)


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """What one step reads of ``AIRNet``'s settings (see there)."""

    image_size: int
    window: int
    lstm: int
    hidden: int
    z_what: int
    where_prior_loc: tuple[float, float, float]
    where_prior_scale: tuple[float, float, float]
    where_offset: bool
    where_scale_relative: bool
    pres_bias: float
    difference: bool
    decoder_output_bias: float | None
    decoder_sigmoid: bool

    @classmethod
    def of(cls, net) -> "StepSettings":
        return cls(**{f.name: getattr(net, f.name) for f in dataclasses.fields(cls)})


class AIRStep(nn.Module):
    """One inference-and-generation step; scanned over the steps by ``AIRNet``."""

    net: StepSettings
    deterministic: bool

    def where_posterior(self, pred: Array) -> tuple[Array, Array]:
        """``(loc, scale) [B, 3]`` of q(z_where) from the predictor's six outputs."""
        n = self.net
        loc, scale = pred[:, :3], nn.softplus(pred[:, 3:]) + SCALE_FLOOR
        if n.where_offset:  # relative to the prior's mean: windows of its size at first
            loc = loc + jnp.asarray(n.where_prior_loc)[None]
        if n.where_scale_relative:  # as Pyro: the prior's scale times a learned factor
            scale = scale * jnp.asarray(n.where_prior_scale)[None]
        return loc, scale

    @nn.compact
    def __call__(self, carry, prior_p, image):
        (c, h), pres, where, what, canvas = carry
        n = self.net
        b = image.shape[0]
        seen = image - canvas if n.difference else image
        inp = jnp.concatenate([seen.reshape(b, -1), where, what, pres], axis=-1)
        (c, h), _ = nn.OptimizedLSTMCell(n.lstm, name="lstm")((c, h), inp)

        pred = MLP(n.hidden, 7, (n.pres_bias,) + (0.0,) * 6, name="predict")(h)
        p = nn.sigmoid(pred[:, 0]) * pres[:, 0]  # 0 once a step was 0
        where_loc, where_scale = self.where_posterior(pred[:, 1:])
        rng_pres, rng_where, rng_what = jax.random.split(self.make_rng("sample"), 3)
        if self.deterministic:  # evaluation: modes
            z_pres = (p > 0.5).astype(jnp.float32)
            z_where = where_loc
        else:
            z_pres = (jax.random.uniform(rng_pres, p.shape) < p).astype(jnp.float32)
            z_where = where_loc + where_scale * jax.random.normal(rng_where, where_loc.shape)

        glimpse = read_glimpse(image[..., 0], z_where, n.window).reshape(b, -1)
        enc = MLP(n.hidden, 2 * n.z_what, name="encoder")(glimpse)
        what_loc = enc[:, : n.z_what]
        what_scale = nn.softplus(enc[:, n.z_what :]) + SCALE_FLOOR
        if self.deterministic:
            z_what = what_loc
        else:
            z_what = what_loc + what_scale * jax.random.normal(rng_what, what_loc.shape)

        decoder = MLP(n.hidden, n.window**2, name="decoder")
        window = decode_window(decoder, z_what, n.window, n.decoder_output_bias, n.decoder_sigmoid)
        painted = write_window(window, z_where, n.image_size)[..., None]
        canvas = canvas + z_pres[:, None, None, None] * painted

        mask = pres[:, 0]  # the step's z_pres was drawn (not forced to 0)
        pc = jnp.clip(p, 1e-6, 1 - 1e-6)
        log_q = mask * (z_pres * jnp.log(pc) + (1 - z_pres) * jnp.log1p(-pc))
        log_prior = z_pres * jnp.log(prior_p) + (1 - z_pres) * jnp.log1p(-prior_p)
        prior_loc, prior_scale = jnp.asarray(n.where_prior_loc), jnp.asarray(n.where_prior_scale)
        kl_where = gaussian_kl(where_loc, where_scale, prior_loc, prior_scale)
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


def _initial(module: nn.Module, learned: bool, name: str, size: int, b: int) -> Array:
    """``[b, size]``: a learned start (zero-initialised, as Pyro's ``*_init`` parameters) or
    zeros."""
    value = module.param(name, nn.initializers.zeros, (size,)) if learned else jnp.zeros(size)
    return jnp.broadcast_to(value, (b, size))


class AIRNet(nn.Module):
    """``images [B, S, S, 1]`` in [0, 1] -> per-step latents and the canvas.

    The fields' defaults are Pyro's reproduction at this canvas size; the experiment config
    adds four departures to them (``docs/air.md``)."""

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
    where_offset: bool = True  # q(z_where)'s mean relative to the prior's (Pyro)
    where_scale_relative: bool = True  # its scale a factor of the prior's (Pyro)
    learned_init: bool = True  # the LSTMs' initial states and the first step's latents
    pres_bias: float = 0.0  # initial bias of z_pres's logit
    difference: bool = False  # DAIR
    decoder_output_bias: float | None = -2.0  # added before the sigmoid: empty windows at first
    decoder_sigmoid: bool = True
    baseline_hidden: int = 200  # the baseline's read-out MLP (0: linear)
    baseline_scalar: float | None = None  # the baseline's output times this (Pyro's option)

    @nn.compact
    def __call__(self, images: Array, train: bool = True, step=0):
        b = images.shape[0]
        init = lambda name, size: _initial(self, self.learned_init, name, size, b)
        carry = (
            (init("c_init", self.lstm), init("h_init", self.lstm)),
            jnp.ones((b, 1), jnp.float32),
            init("z_where_init", 3),
            init("z_what_init", self.z_what),
            jnp.zeros_like(images),
        )
        scan = nn.scan(
            AIRStep,
            variable_broadcast="params",
            split_rngs={"params": False, "sample": True},
            in_axes=(0, nn.broadcast),
            length=self.steps,
        )
        step_fn = scan(StepSettings.of(self), not train, name="step")
        (_, _, _, _, canvas), out = step_fn(carry, net_prior(self, step), images)
        out = jax.tree.map(lambda v: jnp.moveaxis(v, 0, 1), out)  # [T, B, ...] -> [B, T, ...]
        first = {"z_where": carry[2][:1], "z_what": carry[3][:1]}  # [1, ...] each
        return canvas, out, first


def net_prior(net: AIRNet, step) -> Array:
    """``net``'s count prior: per-step success probabilities ``[steps]`` at training ``step``."""
    return annealed_prior(net.steps, net.count_prior_k, net.anneal_from, net.anneal_steps, step)


class AIRBaseline(nn.Module):
    """Per-step baselines ``[B, T]`` from detached inputs: an LSTM over the image and the
    previous step's latents (``first``: those before step 0), then an MLP read-out
    (``hidden`` 0: linear), times ``scalar`` when given."""

    lstm: int = 256
    hidden: int = 200
    scalar: float | None = None
    learned_init: bool = True

    @nn.compact
    def __call__(self, images, z_pres, z_where, z_what, first_where, first_what) -> Array:
        b, steps = z_pres.shape
        flat = images.reshape(b, -1)

        def prev(z, first):  # [B, T, ...]: the latents before each step
            return jnp.concatenate([jnp.broadcast_to(first, z[:, :1].shape), z[:, :-1]], 1)

        inputs = jnp.concatenate(
            [
                prev(z_pres[..., None], jnp.ones((1, 1))),
                prev(z_where, first_where),
                prev(z_what, first_what),
            ],
            axis=-1,
        )
        cell = nn.OptimizedLSTMCell(self.lstm, name="lstm")
        init = lambda name: _initial(self, self.learned_init, name, self.lstm, b)
        carry = (init("c_init"), init("h_init"))
        readout = MLP(self.hidden, 1, name="readout")
        out = []
        for t in range(steps):  # 3 steps: unrolled
            carry, h = cell(carry, jnp.concatenate([flat, inputs[:, t]], axis=-1))
            out.append(readout(h)[:, 0])
        out = jnp.stack(out, axis=1)
        return out if self.scalar is None else out * self.scalar


@dataclasses.dataclass(frozen=True)
class AIR(Family):
    """AIR behind the model contract (``ocg_jax.models.base``); ``score_function`` recipe."""

    net: AIRNet
    name: str = "air"
    kl_terms: tuple[str, ...] = ("kl_pres", "kl_where", "kl_what")
    recipe: ClassVar[str] = "score_function"
    baseline_group: ClassVar[str] = "baseline"
    label_fields: ClassVar[tuple[str, ...]] = ("num_objects",)
    evaluators: ClassVar[tuple[str, ...]] = ("scores", "counting", "frechet", "probes")

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

    def baseline_net(self) -> AIRBaseline:
        n = self.net
        return AIRBaseline(n.lstm, n.baseline_hidden, n.baseline_scalar, n.learned_init)

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        p_rng, s_rng, b_rng = jax.random.split(rng, 3)
        net = self.net.init({"params": p_rng, "sample": s_rng}, batch, train=False)["params"]
        b, n = batch.shape[0], self.net
        latents = (
            jnp.zeros((b, n.steps)),
            jnp.zeros((b, n.steps, 3)),
            jnp.zeros((b, n.steps, n.z_what)),
            jnp.zeros((1, 3)),
            jnp.zeros((1, n.z_what)),
        )
        bl = self.baseline_net().init(b_rng, batch, *latents)
        step = jnp.zeros((), jnp.int32)  # training steps so far: the count prior's schedule
        return {"params": {"model": net, "baseline": bl["params"]}, "schedule": {"step": step}}

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        self.input_spec.check(images)
        params = variables["params"]
        step = variables.get("schedule", {}).get("step", 0)
        canvas, st, first = self.net.apply(
            {"params": params["model"]}, images, train=train, step=step, rngs={"sample": rng}
        )
        sg = jax.lax.stop_gradient
        latents = (st["z_pres"], st["z_where"], st["z_what"], first["z_where"], first["z_what"])
        baseline = self.baseline_net().apply(
            {"params": params["baseline"]}, sg(images), *map(sg, latents)
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
        draws = jax.random.uniform(r_pres, (num, steps)) < rho[None]
        z_pres = jnp.cumprod(draws, axis=1).astype(jnp.float32)
        loc, scale = jnp.asarray(n.where_prior_loc), jnp.asarray(n.where_prior_scale)
        z_where = loc[None, None] + scale[None, None] * jax.random.normal(r_where, (num, steps, 3))
        z_what = jax.random.normal(r_what, (num, steps, n.z_what))
        decoder = MLP(n.hidden, n.window**2).bind({"params": params["decoder"]})
        flat = z_what.reshape(num * steps, -1)
        windows = decode_window(decoder, flat, n.window, n.decoder_output_bias, n.decoder_sigmoid)
        windows = windows.reshape(num, steps, n.window, n.window)
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

    def pictures(self, variables: Variables, batch: dict, outputs: AIROutputs, rng, num: int = 8):
        """``{"reconstructions", "samples"}`` uint8 grids: boxes in each step's colour over
        the inputs and reconstructions, each step's window; prior samples likewise."""
        images = batch["image"][:num]
        outputs = jax.tree.map(lambda v: v[:num], outputs)
        samples = sample_fn(self)(variables, rng, num)
        size = self.input_spec.shape[0]
        grid = lambda imgs, out, labels: viz.box_grid(
            self.input_spec,
            imgs,
            out.recon,
            np.asarray(window_box(out.z_where, size)),
            np.asarray(out.z_pres) > 0,
            out.windows,
            labels,
        )
        sample_images = np.asarray(
            np.clip(np.round(np.asarray(samples.recon) * 255), 0, 255), np.uint8
        )
        return {
            "reconstructions": grid(images, outputs, ("input + boxes", "reconstruction")),
            "samples": grid(sample_images, samples, ("prior sample + boxes", "prior sample")),
        }

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
