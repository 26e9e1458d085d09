"""The per-image searches of layer-wise inversion (``inversion.py``): the image loss, the
paper's learning-rate schedule, Adam on the code and residuals (``LayerwiseSearch``),
L-BFGS on the code alone (``CodeSearch``), and ``search``, which runs either a block of
steps at a time so that a progress bar moves with the work."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax


def code_slice(code, index):
    """``code[index]`` of every leaf of a code pytree (codes lead with the image axis)."""
    return jax.tree.map(lambda a: a[index], code)


def image_loss(features, x, target):
    """The paper's L1 pixel loss plus an L1 feature loss for one image ``[S, S, 3]``; the
    feature term is relative to the target's mean |feature| (ours: so that one weight
    serves any feature net), so both terms start near 1."""
    f_target = features(target[None])
    feat = jnp.mean(jnp.abs(features(x[None]) - f_target)) / (jnp.mean(jnp.abs(f_target)) + 1e-6)
    return jnp.mean(jnp.abs(x - target)) + feat


def learning_rate(lr: float):
    """The paper's schedule (``optimize_residuals.py``): ``lr`` halved at steps 800, 1200, 1800."""
    return optax.piecewise_constant_schedule(lr, {800: 0.5, 1200: 0.5, 1800: 0.5})


@dataclasses.dataclass(frozen=True)
class LayerwiseSearch:
    """Per image (vmapped): Adam (``learning_rate``) on the code and on a residual at each
    of ``stages`` (``(name, shape for one image)`` pairs), the residuals penalised by
    ``lam * sum mean(delta^2)``.  ``init`` then ``advance`` a block of steps at a time
    (the state carries the schedule's count), then ``render``."""

    decoder: object  # an ``inversion.Decoder``
    features: object
    stages: tuple
    lr: float = 0.01
    lam: float = 1.0

    def _tx(self):
        return optax.adam(learning_rate(self.lr))

    def _render(self, variables, free):
        return self.decoder.with_deltas(variables, code_slice(free["z"], None), free["deltas"])[0]

    def _loss(self, variables, free, target):
        reg = sum(jnp.mean(jnp.square(v)) for v in free["deltas"].values())
        return image_loss(self.features, self._render(variables, free), target) + self.lam * reg

    @functools.partial(jax.jit, static_argnums=0)
    def init(self, variables, z0):
        def one(z):
            free = {"z": z, "deltas": {k: jnp.zeros(shape) for k, shape in self.stages}}
            return free, self._tx().init(free)

        return jax.vmap(one)(z0)

    @functools.partial(jax.jit, static_argnums=(0, 4))
    def advance(self, variables, state, targets, steps: int):
        """``state`` after ``steps`` more steps, and each image's last loss ``[N]``."""
        tx = self._tx()

        def one(state, target):
            def step(carry, _):
                f, opt = carry
                loss, g = jax.value_and_grad(self._loss, argnums=1)(variables, f, target)
                updates, opt = tx.update(g, opt, f)
                return (optax.apply_updates(f, updates), opt), loss

            state, losses = jax.lax.scan(step, state, None, length=steps)
            return state, losses[-1]

        return jax.vmap(one)(state, targets)

    @functools.partial(jax.jit, static_argnums=0)
    def render(self, variables, state):
        return jax.vmap(lambda free: self._render(variables, free))(state[0])


@dataclasses.dataclass(frozen=True)
class CodeSearch:
    """The paper's z-only baseline: full-batch L-BFGS on the code (optax's, zoom line
    search of at most 10 steps, the original's ``max_ls``); ``init``, ``advance`` a block
    of steps, ``render``.  ``per_image`` (the original's): a search per image, vmapped, so
    every step waits for the chunk's longest line search.  Otherwise one search on the
    chunk's summed loss (same minimiser, one shared line search: 10-18x faster here,
    but a higher loss at equal steps; ``docs/seeing.md`` has the measurements)."""

    decoder: object  # an ``inversion.Decoder``
    features: object
    per_image: bool = True

    def _tx(self):
        return optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=10))

    def _losses(self, variables, z, targets):
        recons = self.decoder(variables, z)
        return jax.vmap(functools.partial(image_loss, self.features))(recons, targets)

    @functools.partial(jax.jit, static_argnums=0)
    def init(self, variables, z0):
        init = self._tx().init
        state = (z0, jax.vmap(init)(z0) if self.per_image else init(z0))
        # the line search's info starts weakly typed: strong types, so advance compiles once
        return jax.tree.map(lambda a: jnp.asarray(a, dtype=a.dtype), state)

    @functools.partial(jax.jit, static_argnums=(0, 4))
    def advance(self, variables, state, targets, steps: int):
        """``state`` after ``steps`` more steps, and each image's loss ``[N]``."""
        one_image = lambda z, t: self._losses(variables, code_slice(z, None), t[None])[0]
        if self.per_image:
            run = jax.vmap(lambda st, t: self._lbfgs(lambda z: one_image(z, t), st, steps))
            state = run(state, targets)
        else:
            chunk = lambda z: jnp.sum(self._losses(variables, z, targets))
            state = self._lbfgs(chunk, state, steps)
        return state, self._losses(variables, state[0], targets)

    def _lbfgs(self, value_fn, state, steps: int):
        tx, value_and_grad = self._tx(), optax.value_and_grad_from_state(value_fn)

        def step(carry, _):
            z, opt = carry
            value, grad = value_and_grad(z, state=opt)
            updates, opt = tx.update(grad, opt, z, value=value, grad=grad, value_fn=value_fn)
            return (optax.apply_updates(z, updates), opt), None

        return jax.lax.scan(step, state, None, length=steps)[0]

    @functools.partial(jax.jit, static_argnums=0)
    def render(self, variables, state):
        return self.decoder(variables, state[0])


def search(searcher, variables, z0, targets, steps: int, block: int = 100, bar=None):
    """``(reconstructions, final losses [N])`` after ``steps`` steps of ``searcher``
    (``CodeSearch`` or ``LayerwiseSearch``), run ``block`` steps a call so that ``bar``
    (a tqdm counting image-steps, or None) moves as the work is done."""
    state, losses = searcher.init(variables, z0), None
    for done in range(0, steps, block):
        n = min(block, steps - done)
        state, losses = jax.block_until_ready(searcher.advance(variables, state, targets, n))
        if bar is not None:
            bar.update(n * len(targets))
    return searcher.render(variables, state), losses
