"""What ``evaluate`` adds for a Disentangling Disentanglement run (``result["disentanglement"]``).

Posterior means of up to ``num_images`` examples of a split give:
  * ``prior_log_likelihood``: mean log p(z) of the encodings under the model's prior
    (the pinwheel demonstration: high when q(z) took the prior's shape);
  * ``hoyer``: Hoyer sparsity of the std-normalised means;
  * with a mixture prior: ``component_balance`` (1: the encodings use the prior's
    components equally, as q(z) = p(z) would; 0: all in one), and
    ``components_used`` (components given at least 5% of the encodings);
  * with the dataset's ``factors`` (dSprites): ``disentanglement_score`` (the original's
    protocol; ``disentanglement_score_t`` for a Student-t prior), ``factor_vae_*``
    (disentanglement_lib's protocol), ``mig``, ``dci_*``; ``protocols`` names each, and
    ``chance`` holds the same scores of N(0, I) codes of the same shape (the trivial baseline).
"""

import functools

import jax
import numpy as np

from ocg_jax.analysis.runs import Run
from ocg_jax.data.pipeline import load_examples, load_source
from ocg_jax.metrics.disentanglement import (
    component_balance,
    dci,
    disentanglement_score,
    factor_vae_score,
    hoyer_sparsity,
    mutual_information_gap,
)
from ocg_jax.models.dd_vae import DDNet
from ocg_jax.platform.progress import tqdm


@functools.cache
def _encode_fn(model):
    """Jitted ``(variables, inputs float) -> posterior means [B, D]``."""
    return jax.jit(lambda v, x: model.net.apply(v, x, method=DDNet.encode)[0])


def encode_split(run: Run, source, num: int, batch_size: int = 256, progress: bool = False):
    """``(codes [num, D], examples {field: [num, ...]})`` for the first ``num`` examples."""
    spec, enc = run.model.input_spec, _encode_fn(run.model)
    codes, rows = [], []
    starts = range(0, num, batch_size)
    for start in tqdm(starts, desc="encoding", disable=not progress, leave=False):
        ex = load_examples(source, min(batch_size, num - start), None, start)
        codes.append(np.asarray(enc(run.variables, spec.preprocess(ex[spec.field]))))
        rows.append({k: v for k, v in ex.items() if k != spec.field})
    examples = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    return np.concatenate(codes), examples


@functools.cache
def _log_likelihood_fn(model, k: int):
    return jax.jit(lambda v, x, rng: model.importance_log_likelihood(v, x, rng, k))


def log_likelihood_evaluation(
    run: Run, split: str = "test", num_images: int = 500, k: int = 100, seed: int = 0,
    batch_size: int = 100, progress: bool = False,
) -> dict:  # fmt: skip
    """``{"log_likelihood", "log_likelihood_std", "importance_samples", "num_images"}``: the
    mean importance-weighted estimate of log p(x) (nats per example) over the first
    ``num_images`` of ``split``, ``k`` samples each (the original: ``analyse --logp``,
    1,000 samples over the test set)."""
    data = run.config.data
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    n, spec = min(num_images, len(source)), run.model.input_spec
    fn, out = _log_likelihood_fn(run.model, k), []
    for i, start in enumerate(tqdm(range(0, n, batch_size), desc="log p(x)", disable=not progress,
                                   leave=False)):  # fmt: skip
        x = spec.preprocess(load_examples(source, min(batch_size, n - start), [spec.field],
                                          start)[spec.field])  # fmt: skip
        out.append(
            np.asarray(fn(run.variables, x, jax.random.fold_in(jax.random.PRNGKey(seed), i)))
        )
    values = np.concatenate(out)
    return {
        "log_likelihood": float(values.mean()),
        "log_likelihood_std": float(values.std()),
        "importance_samples": k,
        "num_images": n,
    }


#: what ``result["chance"]`` keeps of ``factor_scores`` on codes that carry no factor
CHANCE_KEYS = ("disentanglement_score", "factor_vae_eval_accuracy", "mig",
               "dci_disentanglement", "dci_informativeness")  # fmt: skip


def factor_scores(
    codes: np.ndarray, factors: np.ndarray, num_votes: int, dci_images: int, seed: int,
    student_t_df: float | None = None,
) -> dict:  # fmt: skip
    """Scores of ``codes [N, D]`` against the ground-truth ``factors [N, F]``: the original's
    disentanglement score (``_t`` under a Student-t prior of ``student_t_df``), Kim & Mnih's
    (``factor_vae_*``), MIG and DCI (on the first ``dci_images``), each with its own
    generator seeded by ``seed``."""
    n = len(codes)
    subset = max(2, min(1000, n // 20))  # points per vote: 1000 (the paper) at >= 20k
    score = functools.partial(disentanglement_score, codes, factors, num_votes=num_votes,
                              subset_size=subset)  # fmt: skip
    out = {"disentanglement_score": score(rng=np.random.default_rng(seed))}
    if student_t_df is not None:
        out["disentanglement_score_t"] = score(rng=np.random.default_rng(seed),
                                               student_t_df=student_t_df)  # fmt: skip
    fv = factor_vae_score(codes, factors, rng=np.random.default_rng(seed))
    out.update({f"factor_vae_{k}": v for k, v in fv.items()})
    out["mig"] = mutual_information_gap(codes, factors)
    m = min(n, dci_images)
    out.update({f"dci_{k}": v for k, v in dci(codes[:m], factors[:m], seed=seed).items()})
    out["votes_subset_size"] = subset
    return out


def disentanglement_evaluation(
    run: Run,
    split: str = "test",
    num_images: int = 10_000,
    num_votes: int = 20_000,
    dci_images: int = 2_000,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """The scores above, with ``num_images`` clipped to the split; DCI (gradient-boosted trees
    per factor) on the first ``dci_images`` of them.  The disentanglement score takes the
    original's 20,000 votes of 1,000 codes on the full grid (fewer codes a vote on a
    smaller set: ``votes_subset_size``); ``factor_vae_*`` is disentanglement_lib's."""
    data = run.config.data
    source = load_source(data.name, data.config, split, run.data_dir, prepare=False)
    n = min(num_images, len(source))
    codes, ex = encode_split(run, source, n, progress=progress)
    prior = run.model.prior(run.variables)
    result = {
        "num_images": n,
        "prior_log_likelihood": float(np.mean(np.asarray(prior.log_prob(codes)))),
        "hoyer": hoyer_sparsity(codes),
    }
    if run.model.net.prior_spec.name == "mixture":
        result.update(mixture_usage(prior.component_log_probs(codes)))
    if "factors" in ex:
        student_t_df = spec.df if (spec := run.model.net.prior_spec).name == "student_t" else None
        scores = functools.partial(factor_scores, factors=ex["factors"], num_votes=num_votes,
                                   dci_images=dci_images, seed=seed)  # fmt: skip
        result.update(scores(codes, student_t_df=student_t_df))
        # the trivial baseline: codes that carry no factor, N(0, I), scored the same way
        noise = np.random.default_rng(seed + 1).standard_normal(codes.shape).astype(np.float32)
        result["chance"] = {k: v for k, v in scores(noise).items() if k in CHANCE_KEYS}
        result["protocols"] = {
            "disentanglement_score": f"Mathieu et al.'s code: {num_votes} votes of "
            f"{result['votes_subset_size']} codes, factor and value uniform, drawn without "
            "replacement, train = eval votes",
            "factor_vae": "disentanglement_lib: 10,000 training and 5,000 evaluation votes of "
            "64 codes, dimensions of variance < 0.05 pruned",
            "chance": "the same scores of codes drawn from N(0, I), of the encodings' shape",
        }
    return result


def mixture_usage(component_log_probs) -> dict:
    """``component_balance`` and ``components_used`` (given at least 5%) of encodings, each
    assigned to its likeliest prior component; ``component_log_probs``: ``[N, K]``
    log w_k + log p_k(z)."""
    assigned = np.argmax(np.asarray(component_log_probs), -1)
    k = component_log_probs.shape[-1]
    usage = np.bincount(assigned, minlength=k) / len(assigned)
    return {"component_balance": component_balance(assigned, k),
            "components_used": int(np.sum(usage >= 0.05))}  # fmt: skip


def pinwheel_scores(config, seeds, data_dir=None) -> list[dict]:
    """Per seed, ``mixture_usage`` and ``prior_log_likelihood`` (mean log p(z)) of the 400
    pinwheel test encodings (posterior means) after ``config.num_steps`` full-batch steps of
    ``config``'s recipe from ``PRNGKey(seed)`` (the pinwheel configs: one batch of all 400
    training points, in a fixed order)."""
    from ocg_jax.models.registry import get_model
    from ocg_jax.train.recipes import build

    points = lambda split: load_examples(load_source("pinwheel", None, split, data_dir), 400)
    train, test = points("train")["point"], points("test")["point"]
    model = get_model(config.model)
    recipe = build(model, config)
    step = jax.jit(recipe.train_step)
    out = []
    for seed in seeds:
        state = recipe.init(jax.random.PRNGKey(seed))
        for _ in range(config.num_steps):
            state, _ = step(state, {"point": train})
        v = {"params": state.params}
        means = model.net.apply(v, test, method=DDNet.encode)[0]
        prior = model.prior(v)
        log_p = float(np.mean(np.asarray(prior.log_prob(means))))
        out.append(
            {**mixture_usage(prior.component_log_probs(means)), "prior_log_likelihood": log_p}
        )
    return out
