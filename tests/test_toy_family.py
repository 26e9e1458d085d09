"""Adding a family needs its model, one registration, a config and a test: this file is all
four for a tiny VAE, and it trains, resumes, evaluates and draws through the library's
own loop, evaluators and pictures without an edit anywhere else."""

import dataclasses
import json
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from ocg_jax.models.base import Family, InputSpec
from ocg_jax.models.registry import register


@struct.dataclass
class ToyVAEOutputs:
    recon: jax.Array  # [B, H, W, 3]
    z: jax.Array  # [B, D]
    z_mean: jax.Array  # [B, D]
    losses: dict  # per example [B]: nll, kl


class ToyVAENet(nn.Module):
    latent: int = 4

    @nn.compact
    def __call__(self, x):
        b = x.shape[0]
        h = nn.relu(nn.Dense(32)(x.reshape(b, -1)))
        mean, log_var = nn.Dense(self.latent)(h), nn.Dense(self.latent)(h)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(self.make_rng("sample"), mean.shape)
        recon = self.decode(z, x.shape[1:])
        nll = 0.5 * jnp.sum(jnp.square((x - recon) / 0.3), axis=(1, 2, 3))
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1 - log_var, axis=-1)
        return ToyVAEOutputs(recon, z, mean, {"nll": nll, "kl": kl})

    @nn.compact
    def decode(self, z, shape):
        return nn.sigmoid(nn.Dense(int(np.prod(shape)), name="decoder")(z)).reshape(-1, *shape)


@dataclasses.dataclass(frozen=True)
class ToyVAE(Family):
    net: ToyVAENet
    size: int = 32
    name: str = "toy_vae"
    kl_terms: tuple[str, ...] = ("kl",)
    samples: ClassVar[bool] = False
    evaluators: ClassVar[tuple[str, ...]] = ("scores", "probes")

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.size, self.size, 3))

    def init(self, rng, batch):
        return self.net.init({"params": rng, "sample": rng}, batch)

    def apply(self, variables, images, rng, *, train):
        return self.net.apply(variables, images, rngs={"sample": rng}), {}

    def features(self, outputs, *, sample=True):
        return outputs.z if sample else outputs.z_mean


def toy_config(data_dir) -> ml_collections.ConfigDict:
    """Every value of the experiment, in one place."""
    return ml_collections.ConfigDict(
        {
            "seed": 0, "batch_size": 4, "num_steps": 4, "beta": 1.0, "log_every": 1,
            "eval_every": 2, "eval_images": 4, "checkpoint_every": 2, "max_to_keep": 3,
            "optim": {"name": "adam", "learning_rate": 1e-3},
            "model": {"name": "toy_vae", "latent": 4},
            "data": {
                "name": "multi_dsprites", "config": "tiny_32px", "data_dir": data_dir,
                "prepare": True, "eval_split": "validation", "max_label": 4, "num_threads": 1,
            },
        }
    )  # fmt: skip


def test_a_family_from_outside_trains_resumes_evaluates_and_draws(tmp_path, data_dir):
    from ocg_jax.analysis.evaluation import evaluate_run, format_table
    from ocg_jax.analysis.pictures import make_pictures
    from ocg_jax.analysis.runs import load_run
    from ocg_jax.train.loop import train_and_evaluate

    register("toy_vae", lambda options: ToyVAE(ToyVAENet(**options)))
    config = toy_config(data_dir)
    config.num_steps = 2
    train_and_evaluate(config, tmp_path, progress=False)
    config.num_steps = 4  # resumed from the step-2 checkpoint
    state = train_and_evaluate(config, tmp_path, progress=False)
    assert int(state.step) == 4
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    assert (tmp_path / "images").is_dir()

    run = load_run(tmp_path)
    result = evaluate_run(run, num_images=8, probe_train_images=16, probe_test_images=8,
                          progress=False)  # fmt: skip
    assert result["evaluators"] == ["scores", "probes"]
    assert {"nll", "kl", "elbo"} <= set(result["metrics"]) and "frechet" not in result
    assert set(result["probes"]["latents"]) and "probe accuracy" in format_table(result)
    pics = make_pictures(run, num=4)
    assert set(pics) == {"reconstructions"} and pics["reconstructions"].dtype == np.uint8
