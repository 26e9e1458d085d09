"""Small real configs for tests: the experiment configs shrunk to 32x32 and narrow nets."""

import importlib

import jax
import ml_collections

#: per family: options that make its network narrow
_NARROW_GATED = dict(enc_channels=(8,) * 5, enc_strides=(1, 2, 1, 1, 1), dec_channels=(8,) * 5)
NARROW = {
    "genesis": dict(**_NARROW_GATED, num_slots=3),
    "monet": dict(unet_channels=(8, 8, 8, 8), dec_hidden=8, num_slots=3),
    "dc_vae": _NARROW_GATED,
    "bd_vae": dict(
        enc_channels=(8, 8, 8, 8, 8), enc_strides=(1, 2, 1, 1, 1), bd_hidden=8, bd_outputs=8
    ),
}
NARROW["genesis_s"] = NARROW["genesis"]


def tiny_config(
    config_module: str = "genesis_multi_dsprites", data_dir: str | None = None, variant: str = ""
) -> ml_collections.ConfigDict:
    module = importlib.import_module(f"experiments.configs.{config_module}")
    c = module.get_config(",".join(filter(None, ["quick", variant])))
    c.model.image_size = 32
    c.model.update(NARROW[c.model.name])
    c.data.config = {"multi_dsprites": "tiny_32px", "tetrominoes": "tiny"}[c.data.name]
    c.data.data_dir = data_dir
    c.data.num_threads = 1
    c.batch_size = 4
    c.num_steps = 4
    c.log_every = 1
    c.eval_every = 4
    c.eval_images = 4
    c.checkpoint_every = 2
    c.max_to_keep = 3  # checkpoints 2 and 4 (``:quick`` keeps one)
    return c


def params_close(a, b, atol, rtol=0.0):
    import jax
    import numpy as np

    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=rtol),
        a,
        b,
    )


def run_steps(cfg, devices, num_steps: int = 3):
    """``(states, losses)``: the initial state and the state after each of ``num_steps`` of
    ``cfg``'s compiled step on ``devices`` (host copies; the same global batches on any device
    count), and each step's loss; asserts the step traces once."""
    import chex
    import jax

    from ocg_jax.data.pipeline import ShardedLoader, load_source
    from ocg_jax.models.registry import get_model
    from ocg_jax.train.recipes import build
    from ocg_jax.train.sharding import batch_sharding, make_mesh, replicated
    from ocg_jax.train.state import create_train_state

    recipe = build(get_model(cfg.model), cfg)
    src = load_source(cfg.data.name, cfg.data.config, "train", cfg.data.data_dir)
    mesh = make_mesh(devices)
    loader = ShardedLoader(
        src, batch_size=cfg.batch_size, sharding=batch_sharding(mesh), seed=cfg.seed
    )
    state = create_train_state(recipe, jax.random.PRNGKey(cfg.seed), mesh)
    states = [jax.device_get(state)]  # the step donates the state
    out = (replicated(mesh), replicated(mesh))  # as compile_train_step, but trace-counted
    step = jax.jit(
        chex.assert_max_traces(recipe.train_step, n=1), donate_argnums=0, out_shardings=out
    )
    losses = []
    for _ in range(num_steps):
        state, metrics = step(state, next(loader))
        states.append(jax.device_get(state))
        losses.append(float(metrics["loss"]))
    chex.clear_trace_counter()
    return states, losses


#: per family: the config its shared engine run uses (conftest ``family_run``), with SGD.
#: Adam and RMSprop divide by the gradient's running scale, so a gradient that is zero in
#: exact arithmetic (a dense kernel feeding batch norm; the bias of MONet's mask logits under
#: a softmax over K) or merely tiny turns its rounding noise, which differs with the summation
#: order across devices, into lr-sized steps of either sign; SGD's update is linear in the
#: gradient, so its difference is bounded by the gradient's rounding (``updates_close``).
#: Adam's moments are checked through a checkpoint by the adversarial recipe's resume test.
ENGINE_CONFIGS = {
    "genesis": ("genesis_multi_dsprites", ""),
    "monet": ("monet_tetrominoes", "original"),
    "dc_vae": ("dc_vae_tetrominoes", ""),
    "bd_vae": ("bd_vae_tetrominoes", ""),
}


def engine_config(name: str, data_dir: str | None = None) -> ml_collections.ConfigDict:
    module, variant = ENGINE_CONFIGS[name]
    c = tiny_config(module, data_dir=data_dir, variant=variant)
    c.optim.name = "sgd"
    c.optim.learning_rate = 1e-5
    return c


def updates_close(start, a, b, rtol: float, steps: int):
    """``a - start`` and ``b - start`` agree within ``rtol`` times the largest entry of
    ``a - start``, per array (pytrees of parameters after the same ``steps`` SGD steps), plus
    the rounding of each step's ``p - lr * g`` to float32 in either run (an ulp of ``|p|``
    per step)."""
    import jax
    import numpy as np

    def check(p0, x, y):
        p0, x, y = np.asarray(p0), np.asarray(x), np.asarray(y)
        rounding = steps * 2.0**-23 * np.maximum(np.abs(p0), np.abs(x)).max()
        atol = rtol * np.abs(x - p0).max() + rounding
        np.testing.assert_allclose(y - p0, x - p0, rtol=0, atol=atol)

    jax.tree.map(check, start, a, b)


def init_variables(model, x: jax.Array, seed: int = 1):
    """``model.init`` on ``x``, jitted and under non-partitionable threefry, whose initialisers
    XLA:CPU compiles much faster (as ``create_train_state`` does)."""
    with jax.threefry_partitionable(False):
        return jax.jit(model.init)(jax.random.PRNGKey(seed), x)


def write_vgg_npz(path) -> dict:
    """An ``.npz`` of random weights under torchvision's VGG-16 keys (``features.N``, up to
    conv4_2, and a classifier entry the reader skips); returns what it wrote."""
    import numpy as np

    from ocg_jax.analysis.vgg import conv_indices

    rng, state, cin = np.random.default_rng(0), {}, 3
    for i, width in zip(conv_indices(), (64, 64, 128, 128, 256, 256, 256, 512, 512), strict=True):
        state[f"features.{i}.weight"] = rng.normal(0, 0.05, (width, cin, 3, 3)).astype(np.float32)
        state[f"features.{i}.bias"] = rng.normal(0, 0.1, width).astype(np.float32)
        cin = width
    state["classifier.0.bias"] = np.zeros(4, np.float32)
    np.savez(path, **state)
    return state
