import jax.numpy as jnp
import pytest
from helpers import tiny_config

from ocg_jax.objectives.geco import find_geco_state, geco_beta
from ocg_jax.train.steps import geco_goal, make_optimizer


def test_geco_goal_is_the_paper_value():
    assert geco_goal(0.5655, (64, 64, 3)) == pytest.approx(6948.86, abs=0.01)


def test_optimizer_with_and_without_geco():
    cfg = tiny_config()
    params = {"w": jnp.ones(2)}
    with_geco = make_optimizer(cfg, (32, 32, 3)).init(params)
    state = find_geco_state(with_geco)
    assert state is not None and float(state.beta) == cfg.geco.beta_init
    cfg.geco.enabled = False
    fixed = make_optimizer(cfg, (32, 32, 3)).init(params)
    assert find_geco_state(fixed) is None
    assert float(geco_beta(fixed, cfg.beta)) == cfg.beta
    cfg.optim.name = "adagrad"
    with pytest.raises(ValueError, match="optim.name"):
        make_optimizer(cfg, (32, 32, 3))
