"""The paper's starting encoder for a GAN: per-stage inverse networks, composed (Bau et al.
2019, ``ganseeing``'s ``train_onelayer_inv.py`` and ``train_hybrid_inv.py``).

With ``s_0 = z`` and ``s_1 .. s_L`` the outputs of the generator's first ``L`` stages
(those that get a residual, ``inversion.residual_stages``), ``G_i`` maps ``s_{i-1}`` to
``s_i`` (the generator from stage ``i - 1``'s output, its earlier stages cut off):

1. each inverse ``E_i: s_i -> s_{i-1}`` is trained on samples with the paper's loss
   ``cse(s_{i-1}, E_i(s_i)) + 0.01 cse(s_i, G_i(E_i(s_i)))`` (``cse``: one minus the
   cosine similarity, per example);
2. a conv *bottom* ``B: image -> s_L`` with ``cse(s_L, B(G(z)))`` (the paper's is a
   ResNet-18 to layer 4);
3. the composition ``E = E_1 o ... o E_L o B`` is fine-tuned with the paper's default
   losses (its ``_cse`` run: estimate layer L; recover z, layer L and the image):
   ``cse(s_L, B(x)) + cse(z, E(x)) + cse(s_L, G_{1..L}(E(x))) + mse(x, G(E(x)))``.

Departures, for short CPU budgets: Adam at 1e-3 (the inverses, the bottom) and 1e-4 (the
fine-tune) for ``steps`` steps each, not the paper's 1e-4 / 1e-5 over 10,000 / 100,000;
no batch norm in the inverses (theirs have it), a pixel norm on their inputs as theirs.
Codes ``[B, Z]``; the VAE families start from their posterior instead.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ocg_jax.platform.progress import tqdm


def cse(x, y):
    """The paper's ``cor_square_error``: mean over examples of ``1 - cos(x_b, y_b)``."""
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    cos = jnp.sum(x * y, -1) / jnp.maximum(
        jnp.linalg.norm(x, axis=-1) * jnp.linalg.norm(y, axis=-1), 1e-12
    )
    return jnp.mean(1.0 - cos)


def _pixel_norm(x):
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), -1, keepdims=True) + 1e-8)


class StageInverse(nn.Module):
    """``[B, *in] -> [B, *out]``: a stage's output back to its input.  A map: two 3x3 convs
    (leaky ReLU 0.2), then a strided 1x1 conv to a smaller map or a linear layer to a
    vector; a vector: a hidden linear layer, then a linear one.  Input pixel-normed; the
    code's inverse (``to_code``) pixel-norms its output too, as the paper's
    ``Layer1toZNormEncoder`` (a Gaussian code's norm is about sqrt(Z): cse alone leaves the
    scale free)."""

    out_shape: tuple[int, ...]
    to_code: bool = False

    @nn.compact
    def __call__(self, x):
        x, b = _pixel_norm(x), x.shape[0]
        if x.ndim == 4:
            for _ in range(2):
                x = nn.leaky_relu(nn.Conv(x.shape[-1], (3, 3))(x), 0.2)
            if len(self.out_shape) == 3:
                stride = x.shape[1] // self.out_shape[0]
                return nn.Conv(self.out_shape[-1], (1, 1), (stride, stride))(x)
            x = x.reshape(b, -1)
        else:
            x = nn.leaky_relu(nn.Dense(x.shape[-1])(x), 0.2)
        x = nn.Dense(int(np.prod(self.out_shape)))(x)
        return (_pixel_norm(x) if self.to_code else x).reshape(b, *self.out_shape)


class Bottom(nn.Module):
    """``[B, S, S, 3] -> [B, *out]``: stride-2 convs (32, 64, 128, 128 wide at most; leaky
    ReLU 0.2) down to the target map's size (a vector's: 4x4), then a 3x3 conv or a linear
    layer to the target."""

    out_shape: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        side = self.out_shape[0] if len(self.out_shape) == 3 else 4
        width = 32
        while x.shape[1] > side:
            x = nn.leaky_relu(nn.Conv(width, (3, 3), (2, 2))(x), 0.2)
            width = min(2 * width, 128)
        if len(self.out_shape) == 3:
            return nn.Conv(self.out_shape[-1], (3, 3))(x)
        return nn.Dense(int(np.prod(self.out_shape)))(x.reshape(x.shape[0], -1))


def _fit(loss_fn, params, steps: int, lr: float, seed: int, desc: str | None = None):
    """``(params, final loss)`` after ``steps`` of Adam on ``loss_fn(params, key)``; a
    progress bar named ``desc`` if given."""
    tx = optax.adam(lr)

    @jax.jit
    def step(p, opt, key):
        loss, g = jax.value_and_grad(loss_fn)(p, key)
        updates, opt = tx.update(g, opt, p)
        return optax.apply_updates(p, updates), opt, loss

    opt, rng, loss = tx.init(params), jax.random.PRNGKey(seed), jnp.nan
    bar = tqdm(range(steps), desc=desc, disable=desc is None, leave=False)
    for i in bar:  # a Python loop: XLA:CPU ran convs 6x slower inside a scan
        params, opt, loss = step(params, opt, jax.random.fold_in(rng, i))
    return params, float(loss)


class HybridEncoder:
    """``E(x) = E_1(... E_L(B(x)))`` for a GAN's ``decoder`` (``inversion.Decoder``) and its
    residual ``stages`` (names, in call order); ``train`` fits it, ``__call__`` encodes."""

    def __init__(self, model, decoder, variables, stages, batch_size: int = 32):
        self.model, self.decoder, self.variables = model, decoder, variables
        self.stages, self.batch_size = list(stages), batch_size
        z = model.noise(jax.random.PRNGKey(0), 1)
        shapes = decoder.stage_shapes(variables, z)
        self.shapes = [z.shape[1:]] + [shapes[k][1:] for k in self.stages]  # s_0 .. s_L
        self.inverses = [  # E_1 .. E_L
            StageInverse(tuple(s), to_code=i == 0) for i, s in enumerate(self.shapes[:-1])
        ]
        self.bottom = Bottom(tuple(self.shapes[-1]))
        self.params = None
        self._encode = jax.jit(self.encode)

    def _sample(self, key):
        """``(z, [s_1 .. s_L], images)`` of a batch of fresh samples, no gradient."""
        z = self.model.noise(key, self.batch_size)
        images, outs = self.decoder.with_stages(self.variables, z)
        return jax.lax.stop_gradient((z, [outs[k] for k in self.stages], images))

    def _stage(self, i: int, s_prev):
        """``G_i(s_{i-1})``: stage ``i``'s output (1-based) from the previous one's."""
        code = s_prev if i == 1 else self.model.noise(jax.random.PRNGKey(0), s_prev.shape[0])
        replace = {} if i == 1 else {self.stages[i - 2]: s_prev}
        return self.decoder.with_stages(self.variables, code, replace)[1][self.stages[i - 1]]

    def encode(self, params, images):
        """``(z [B, Z], the bottom's s_L)``."""
        s = self.bottom.apply({"params": params["bottom"]}, images)
        h = s
        for inv, p in reversed(list(zip(self.inverses, params["inverses"], strict=True))):
            h = inv.apply({"params": p}, h)
        return h, s

    def __call__(self, images):
        return self._encode(self.params, images)[0]

    def train(self, steps: int, seed: int = 0, progress: bool = False) -> dict[str, float]:
        """Fits the inverses, the bottom, then the composition (``steps`` each, a progress
        bar each with ``progress``); the final training loss of each phase, and the z error
        on fresh samples."""
        bar = lambda what: f"hybrid encoder: {what}" if progress else None
        losses, keys = {}, jax.random.split(jax.random.PRNGKey(seed), len(self.inverses) + 2)
        x0 = jnp.zeros((1, *self.model.input_spec.shape))
        inverses = []
        for i, (inv, key) in enumerate(zip(self.inverses, keys, strict=False), start=1):
            s_in = jnp.zeros((1, *self.shapes[i]))
            p0 = inv.init(key, s_in)["params"]

            def loss_fn(p, k, i=i, inv=inv):
                z, outs, _ = self._sample(k)
                s_prev, s = ([z] + outs)[i - 1], outs[i - 1]
                est = inv.apply({"params": p}, s)
                return cse(s_prev, est) + 0.01 * cse(s, self._stage(i, est))

            what = f"invert {self.stages[i - 1]}"
            p, losses[what] = _fit(loss_fn, p0, steps, 1e-3, seed + i, bar(what))
            inverses.append(p)

        def bottom_loss(p, k):
            _, outs, images = self._sample(k)
            return cse(outs[-1], self.bottom.apply({"params": p}, images))

        p0 = self.bottom.init(keys[-2], x0)["params"]
        bottom, losses["bottom"] = _fit(bottom_loss, p0, steps, 1e-3, seed + 100, bar("bottom"))

        def hybrid_loss(p, k):
            z, outs, images = self._sample(k)
            z_est, s_est = self.encode(p, images)
            recon, rec = self.decoder.with_stages(self.variables, z_est)
            image_err = jnp.mean(jnp.square(recon - images))
            return (
                cse(outs[-1], s_est)
                + cse(z, z_est)
                + cse(outs[-1], rec[self.stages[-1]])
                + image_err
            )

        params = {"inverses": inverses, "bottom": bottom}
        self.params, losses["hybrid"] = _fit(
            hybrid_loss, params, steps, 1e-4, seed + 200, bar("fine-tune")
        )
        z, _, images = self._sample(jax.random.fold_in(keys[-1], 1))
        losses["z_mse"] = float(jnp.mean(jnp.square(self(images) - z)))
        return losses
