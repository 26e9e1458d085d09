"""A trained run applied to a split, batch by batch: what every evaluator reads.

eval_batch = make_eval_batch(run)
scores, features, images = infer_split(run, eval_batch, source, num, batch_size, seed)
samples = sample_images(run, num, batch_size)
"""

import functools

import jax
import numpy as np

from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_examples
from ocg_jax.models.base import sample_fn
from ocg_jax.platform.progress import tqdm

#: what the probes read: ``model.features(outputs, sample=...)``
PROBE_FEATURES = {"sample": "posterior samples", "mean": "posterior means"}


@functools.cache
def _eval_fn(recipe, sample: bool):
    """Jitted ``(state, batch, rng) -> (scores {name: [B]}, features [B, D])``: the recipe's
    evaluation of a batch and the model's features of its outputs."""

    def fn(state, batch, rng):
        scores, out = recipe.eval_step(state, batch, rng)
        return scores, recipe.model.features(out, sample=sample)

    return jax.jit(fn)


def make_eval_batch(run: Run, probe_features: str = "sample"):
    """``(batch {field: [B, ...]}, rng) -> (scores {name: [B]}, features [B, D])``; the batch
    holds the recipe's ``eval_fields`` the split has (uint8 images, masks, labels)."""
    if probe_features not in PROBE_FEATURES:
        raise ValueError(f"probe_features must be one of {sorted(PROBE_FEATURES)}")
    fn = _eval_fn(run.recipe, probe_features == "sample")
    return lambda batch, rng: fn(run.state, batch, rng)


def batches(num: int, size: int, desc: str, progress: bool):
    """Start indices of ``num`` items in batches of ``size``, with a bar when ``progress``."""
    starts = range(0, num, size)
    return tqdm(starts, desc=desc, disable=not progress, leave=False, unit="batch")


def infer_split(run: Run, eval_batch, source, num, batch_size, seed, desc="", progress=False):
    """``(scores {name: [num]}, features [num, D], inputs [num, ...])`` of the first ``num``
    examples of ``source``."""
    scores, feats, images = [], [], []
    spec = run.model.input_spec
    for i, start in enumerate(batches(num, batch_size, desc, progress)):
        n = min(batch_size, num - start)
        ex = load_examples(source, n, run.recipe.eval_fields, start, missing_ok=True)
        spec.check_stored(ex[spec.field])
        rng = jax.random.fold_in(jax.random.PRNGKey(seed), i)
        s, f = jax.device_get(eval_batch(ex, rng))
        scores.append(s)
        feats.append(f)
        images.append(ex[spec.field])
    scores = {k: np.concatenate([s[k] for s in scores]) for k in scores[0]}
    return scores, np.concatenate(feats), np.concatenate(images)


def sample_images(run: Run, num: int, batch_size: int, seed: int = 0, progress=False):
    """``num`` prior samples (the composed scenes), float ``[num, H, W, C]`` in [0, 1]."""
    sample = sample_fn(run.model)
    out = []
    for i, start in enumerate(batches(num, batch_size, "sampling", progress)):
        rng = jax.random.fold_in(jax.random.PRNGKey(seed + 7), i)
        recon = sample(run.variables, rng, min(batch_size, num - start)).recon
        out.append(np.clip(run.model.input_spec.to_unit(recon), 0.0, 1.0))
    return np.concatenate(out)
