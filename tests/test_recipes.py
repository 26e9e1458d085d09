"""Recipes on tiny models with known answers: elbo (+ GECO, + a batch regulariser),
score_function, adversarial, supervised; and ``build``'s checks."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from helpers import params_close, tiny_config
from toys import BernoulliToy, GaussianGan, toy_gan_family

from ocg_jax.models.registry import get_model, register
from ocg_jax.models.scene_net import scene_net
from ocg_jax.objectives.geco import find_geco_state, geco_beta
from ocg_jax.train.optimizers import group_settings, make_optimizer
from ocg_jax.train.recipes import build, compile_train_step
from ocg_jax.train.recipes.elbo import elbo_optimizer, geco_goal
from ocg_jax.train.sharding import make_mesh, shard_batch
from ocg_jax.train.state import create_train_state

ONE = make_mesh(jax.devices()[:1])


def _batch(shape, n=4, seed=0):
    return {"image": np.random.default_rng(seed).integers(0, 256, (n, *shape), np.uint8)}


def _state(recipe, seed=0):
    return create_train_state(recipe, jax.random.PRNGKey(seed), ONE)


# -- elbo ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, variant", [("genesis_multi_dsprites", ""), ("monet_tetrominoes", "original")]
)
def test_elbo_step_is_nll_plus_weighted_kl_and_moves_geco(module, variant):
    """One SGD step equals the hand-written one: loss = mean NLL + beta * sum_k w_k mean KL_k
    (beta from GECO or fixed, w the relative KL weights), params -= lr * grad, GECO's
    beta updated from the batch NLL."""
    cfg = tiny_config(module, variant=variant)
    cfg.optim.name, cfg.optim.learning_rate = "sgd", 1e-3
    model = get_model(cfg.model)
    recipe = build(model, cfg)
    state = _state(recipe)
    batch = _batch(model.input_spec.shape)
    new, metrics = jax.jit(recipe.train_step)(state, batch)

    rng = jax.random.fold_in(state.rng, 0)
    beta = 1.0 if cfg.geco.enabled else cfg.beta
    weights = {k: cfg.get("kl_weights", {}).get(k, cfg.beta) / cfg.beta for k in model.kl_terms}

    def hand_loss(params):
        variables = {"params": params, **state.model_state}
        x = batch["image"].astype(np.float32) / 255.0
        out, _ = model.apply(variables, x, rng, train=True)
        kl = sum(weights[k] * jnp.mean(out.losses[k]) for k in model.kl_terms)
        return jnp.mean(out.losses["nll"]) + beta * kl, out.losses

    (loss, losses), grads = jax.jit(jax.value_and_grad(hand_loss, has_aux=True))(state.params)
    # the same computation in another jit: float32 reassociation only, ~1e-7 of |loss|
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-5)
    kl_sum = sum(jnp.mean(losses[k]) for k in model.kl_terms)
    np.testing.assert_allclose(metrics["elbo"], -(jnp.mean(losses["nll"]) + kl_sum), rtol=1e-5)
    want = jax.tree.map(lambda p, g: p - 1e-3 * g, state.params, grads)
    # an lr-1e-3 step of gradients ~1e2: the update agrees to float32 rounding of |p| <= 1
    params_close(new.params, want, atol=1e-5, rtol=1e-4)
    beta_after = geco_beta(new.opt_state, cfg.beta)
    if cfg.geco.enabled:
        h, w, c = model.input_spec.shape
        goal = geco_goal(cfg.geco.goal_per_pixel, (h, w, c))
        eta = cfg.geco.step_size * 64**2 / (h * w)
        constraint = goal - float(metrics["nll"])
        speed = cfg.geco.speedup if constraint > 0 else 1.0
        np.testing.assert_allclose(beta_after, np.exp(eta * speed * constraint), rtol=1e-5)
        assert float(find_geco_state(new.opt_state).err_ema) == pytest.approx(float(metrics["nll"]))
    else:
        assert float(beta_after) == cfg.beta


def test_elbo_batch_regularizer_hook():
    """``loss = nll + beta * KL + lambda * R(batch)``; R is logged, the ELBO excludes it."""
    cfg = tiny_config("dc_vae_tetrominoes")
    cfg.optim.name, cfg.optim.learning_rate = "sgd", 1e-3
    cfg.geco.enabled = False
    model = get_model(cfg.model)

    def spread(out, variables, rng):  # a batch-level term: the squared norm of the mean code
        del variables, rng
        return jnp.sum(jnp.square(jnp.mean(out.z, axis=0)))

    with pytest.raises(ValueError, match="regularizers"):  # a hook without a weight
        build(model, cfg, regularizers={"spread": spread})
    cfg.regularizers = ml_collections.ConfigDict({"spread": 7.0})
    with pytest.raises(ValueError, match="regularizers"):  # a weight without a hook
        build(model, cfg)
    recipe = build(model, cfg, regularizers={"spread": spread})
    plain = build(model, ml_collections.ConfigDict({**cfg.to_dict(), "regularizers": {}}))
    state, batch = _state(recipe), _batch(model.input_spec.shape)
    new, metrics = jax.jit(recipe.train_step)(state, batch)
    new_plain, plain_metrics = jax.jit(plain.train_step)(_state(plain), batch)
    assert float(metrics["spread"]) > 0
    np.testing.assert_allclose(metrics["elbo"], plain_metrics["elbo"], rtol=1e-6)
    np.testing.assert_allclose(
        metrics["loss"], plain_metrics["loss"] + 7.0 * metrics["spread"], rtol=1e-6
    )
    # the regulariser's gradient reached the parameters: the two updates differ by
    # lr * 7 * dR/dparams, which is nonzero for the encoder head
    head = lambda s: s.params["head"]["kernel"]
    rng = jax.random.fold_in(state.rng, 0)

    def reg(params):
        x = batch["image"].astype(np.float32) / 255.0
        out, _ = model.apply({"params": params}, x, rng, train=True)
        return spread(out, None, None)

    dreg = jax.grad(reg)(state.params)["head"]["kernel"]
    np.testing.assert_allclose(head(new_plain) - head(new), 1e-3 * 7.0 * dreg, atol=1e-7)


def test_geco_goal_and_optimizers():
    assert geco_goal(0.5655, (64, 64, 3)) == pytest.approx(6948.86, abs=0.01)
    cfg = tiny_config()
    settings = ml_collections.FrozenConfigDict(cfg)
    state = elbo_optimizer(settings, (32, 32, 3)).init({"w": jnp.ones(2)})
    assert float(find_geco_state(state).beta) == cfg.geco.beta_init
    cfg.geco.enabled = False
    fixed = elbo_optimizer(ml_collections.FrozenConfigDict(cfg), (32, 32, 3)).init({"w": 1.0})
    assert find_geco_state(fixed) is None and float(geco_beta(fixed, cfg.beta)) == cfg.beta
    with pytest.raises(ValueError, match="optim.name"):
        make_optimizer({"name": "adagrad"})
    with pytest.raises(ValueError, match="unknown optimiser setting"):
        make_optimizer({"lr": 1e-3})
    # weight decay is PyTorch Adam's: an L2 gradient term (here through SGD with lr 1)
    tx = make_optimizer({"name": "sgd", "learning_rate": 1.0, "weight_decay": 0.1})
    updates, _ = tx.update({"w": jnp.zeros(2)}, tx.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})
    np.testing.assert_allclose(updates["w"], -0.1)
    groups = ml_collections.ConfigDict({"optim": {"name": "adam", "learning_rate": 1e-4}})
    groups.optim_groups = {"baseline": {"learning_rate": 1e-2}}
    assert group_settings(groups, "baseline") == {"name": "adam", "learning_rate": 1e-2}
    assert group_settings(groups, "model") == {"name": "adam", "learning_rate": 1e-4}


# -- score_function --------------------------------------------------------------------------
def _toy_config(model_lr=0.0, baseline_lr=0.0, normalise=False):
    c = ml_collections.ConfigDict()
    c.optim = {"name": "sgd", "learning_rate": model_lr}
    c.optim_groups = {"baseline": {"name": "sgd", "learning_rate": baseline_lr}}
    c.reinforce = {"normalise": normalise, "decay": 0.9}
    return c


def test_score_function_gradient_is_unbiased_and_the_baseline_lowers_its_variance():
    toy = BernoulliToy(theta0=0.5)
    recipe = build(toy, _toy_config(baseline_lr=0.05))
    state = _state(recipe)
    batch = _batch((1, 1, 1), n=1)  # one example: the single-sample estimator

    @jax.jit
    def draws(state, keys):
        grad = lambda k: recipe.gradients(state, batch, k)[0]["model"]["theta"]
        return jax.vmap(grad)(keys)

    keys = jax.random.split(jax.random.PRNGKey(1), 20_000)
    g = np.asarray(draws(state, keys))
    exact = toy.exact_gradient(0.5)
    # the mean of 20k single-sample estimates is within 4 standard errors of the exact value
    assert abs(g.mean() - exact) < 4 * g.std() / np.sqrt(len(g)), (g.mean(), exact)
    # train only the baseline (the model's lr is 0): it learns E[f(z)], and the estimator's
    # variance falls; the mean stays exact
    step = jax.jit(recipe.train_step)
    big = _batch((1, 1, 1), n=64)
    for _ in range(200):
        state, metrics = step(state, big)
    p = float(toy.probability(state.params))
    assert float(state.params["baseline"]["b"]) == pytest.approx(
        toy.f0 + (toy.f1 - toy.f0) * p, abs=0.1
    )
    assert float(state.params["model"]["theta"]) == 0.5
    g_b = np.asarray(draws(state, keys))
    assert abs(g_b.mean() - exact) < 4 * g_b.std() / np.sqrt(len(g_b))
    assert g_b.var() < 0.2 * g.var(), (g_b.var(), g.var())


@pytest.mark.parametrize("normalise", [False, True])
def test_score_function_training_reaches_the_known_optimum(normalise):
    toy = BernoulliToy(theta0=0.0)
    recipe = build(toy, _toy_config(model_lr=0.5, baseline_lr=0.2, normalise=normalise))
    state, step, batch = _state(recipe), jax.jit(recipe.train_step), _batch((1, 1, 1), n=32)
    for _ in range(400):
        state, metrics = step(state, batch)
    assert float(toy.probability(state.params)) == pytest.approx(toy.optimum(), abs=0.03)
    # the logged ELBO is the ELBO, without the surrogate and baseline terms
    assert float(metrics["elbo"]) == pytest.approx(-(float(metrics["nll"]) + float(metrics["kl"])))


# -- adversarial -----------------------------------------------------------------------------
def _gan_config(g_lr=0.02, d_lr=0.02):
    c = ml_collections.ConfigDict()
    c.optim = {"name": "adam", "learning_rate": 1e-3, "b1": 0.0, "b2": 0.9}
    c.optim_groups = {
        "generator": {"learning_rate": g_lr},
        "discriminator": {"learning_rate": d_lr},
    }
    return c


def test_adversarial_generator_moves_toward_the_data():
    gan = GaussianGan(mu0=-1.0)  # generates sigmoid(-1 + 0.14 eps): about 0.27
    recipe = build(gan, _gan_config())
    state = _state(recipe)
    step = jax.jit(recipe.train_step)
    rng = np.random.default_rng(0)
    for _ in range(600):  # data: about 0.7
        pixels = np.clip(rng.normal(0.7, 0.05, (64, 1, 1, 1)), 0, 1)
        state, metrics = step(state, {"image": np.round(pixels * 255).astype(np.uint8)})
    mean = float(jax.nn.sigmoid(state.params["generator"]["mu"]).squeeze())
    assert abs(mean - 0.7) < 0.1, mean
    assert {"discriminator_loss", "generator_loss", "d_real", "d_fake"} <= set(metrics)


def test_adversarial_groups_have_their_own_optimisers():
    recipe = build(GaussianGan(), _gan_config(g_lr=0.0))
    state = _state(recipe)
    new, _ = jax.jit(recipe.train_step)(state, _batch((1, 1, 1), n=8))
    params_close(new.params["generator"], state.params["generator"], atol=0)  # lr 0
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), new.params, state.params)
    assert max(jax.tree.leaves(moved["discriminator"])) > 0
    assert set(new.opt_state) == {"generator", "discriminator"}


def test_adversarial_run_resumes_like_an_uninterrupted_one(tmp_path, data_dir):
    from ocg_jax.train.loop import train_and_evaluate

    register("toy_gan", toy_gan_family)
    cfg = tiny_config("dc_vae_tetrominoes", data_dir=data_dir)
    cfg.model = ml_collections.ConfigDict({"name": "toy_gan", "image_size": 32})
    cfg.recipe = "adversarial"
    cfg.optim = ml_collections.ConfigDict(_gan_config().optim)
    cfg.optim_groups = _gan_config().optim_groups
    full = train_and_evaluate(cfg, tmp_path / "full", progress=False)
    cfg.num_steps = 2
    train_and_evaluate(cfg, tmp_path / "resumed", progress=False)
    cfg.num_steps = 4
    resumed = train_and_evaluate(cfg, tmp_path / "resumed", progress=False)
    assert int(resumed.step) == 4
    params_close(resumed.params, full.params, atol=1e-6)
    params_close(resumed.opt_state, full.opt_state, atol=1e-6)
    assert (tmp_path / "full" / "images" / "samples_0000004.png").exists()


# -- supervised and build ----------------------------------------------------------------------
@pytest.mark.optimised
def test_supervised_recipe_learns_a_label():
    model = scene_net(8, {"bright": 2})
    recipe = build(model, ml_collections.ConfigDict({"optim": {"learning_rate": 3e-3}}))
    assert recipe.fields == ("image", "bright")
    rng = np.random.default_rng(0)
    state, step = _state(recipe), compile_train_step(recipe, ONE)
    for _ in range(150):
        level = rng.integers(0, 2, 32)
        images = level[:, None, None, None] * 120 + rng.integers(0, 100, (32, 8, 8, 3))
        batch = {"image": images.astype(np.uint8), "bright": level}
        state, metrics = step(state, shard_batch(batch, ONE))
    scores, _ = jax.jit(recipe.eval_step)(state, batch, jax.random.PRNGKey(0))
    assert float(np.mean(scores["acc_bright"])) > 0.95 and scores["ce_bright"].shape == (32,)


def test_build_refuses_what_a_family_cannot_train():
    cfg = tiny_config()
    genesis = get_model(cfg.model)
    for name, match in (("score_function", "baseline"), ("adversarial", "phases")):
        cfg.recipe = name
        with pytest.raises(ValueError, match=match):
            build(genesis, cfg)
    cfg.recipe = "sgd_magic"
    with pytest.raises(ValueError, match="unknown recipe"):
        build(genesis, cfg)
    bad = _gan_config()
    bad.optim_groups = {"generater": {"learning_rate": 1.0}}
    with pytest.raises(ValueError, match="generater"):
        build(GaussianGan(), bad)
    # equal recipes are one compiled step (a resumed run in the same process compiles once)
    assert compile_train_step(build(genesis, tiny_config()), ONE) is compile_train_step(
        build(genesis, tiny_config()), ONE
    )
    assert isinstance(optax.tree.norm({"a": jnp.ones(1)}), jax.Array)


def test_the_progress_bar_shows_each_recipes_own_keys(tmp_path, capsys):
    """AIR's bar shows its ELBO and count accuracy, a GAN's its two losses: the logger
    shows what the recipe names, not a fixed list of a VAE's keys."""
    from ocg_jax.train.logging import RunLogger
    from ocg_jax.train.recipes.score_function import ScoreFunction

    assert ScoreFunction.progress == ("elbo", "count_acc")
    logger = RunLogger(tmp_path, total_steps=10, progress=True)
    logger.progress(3, {"elbo": 612.5, "count_acc": 0.75, "generator_loss": -1.25})
    logger.close()
    bar = capsys.readouterr().err
    assert "elbo=612.5" in bar and "count_acc=0.75" in bar and "generator_loss=-1.25" in bar


def test_torch_amsgrad_is_pytorchs_update():
    """PyTorch's Adam(amsgrad=True), written out in numpy: the maximum of the raw second
    moment, bias-corrected after.  optax.amsgrad maxes the corrected one and differs once the
    gradients shrink; the two states have one structure (checkpoints carry over)."""
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    grads = [np.array([3.0, -1.0]) * 0.8**t for t in range(30)]  # large first, then smaller
    m = v = v_max = np.zeros(2)
    ours, tx = [], make_optimizer({"name": "amsgrad_torch", "learning_rate": lr})
    state = tx.init(jnp.zeros(2))
    expected = []
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        expected.append(-lr * m / (1 - b1**t) / (np.sqrt(v_max) / np.sqrt(1 - b2**t) + eps))
        update, state = tx.update(jnp.asarray(g, jnp.float32), state)
        ours.append(np.asarray(update))
    np.testing.assert_allclose(ours, expected, rtol=2e-5, atol=1e-9)
    optax_tx = optax.amsgrad(lr, b1=b1, b2=b2, eps=eps)
    optax_state, theirs = optax_tx.init(jnp.zeros(2)), []
    for g in grads:
        update, optax_state = optax_tx.update(jnp.asarray(g, jnp.float32), optax_state)
        theirs.append(np.asarray(update))
    assert abs(theirs[-1][0]) < 0.5 * abs(ours[-1][0])  # optax keeps the first step's estimate
    same = jax.tree_util.tree_structure
    assert same(state) == same(optax_state)
