"""The evaluators ``evaluate_run`` runs, by name.

A family declares which apply to it (``model.evaluators``); a config may name others
(``config.evaluators``, comma-separated), and so may ``experiments.evaluate
--evaluators``.  Each is ``fn(evaluation) -> dict | None`` on an ``Evaluation``: the
run, the options, and the first pass over the split that they share; what it returns
lands in ``eval.json`` under its name (``scores`` at the top level: ``metrics`` and
``metrics_std``).  None: nothing to report (with a note saying why).
"""

import dataclasses

import numpy as np

from ocg_jax.analysis.counting import count_evaluation
from ocg_jax.analysis.disentangling import disentanglement_evaluation, log_likelihood_evaluation
from ocg_jax.analysis.feature_net import scene_features
from ocg_jax.analysis.foreground import colour_rule_evaluation, foreground_evaluation
from ocg_jax.analysis.inception import InceptionFeatures
from ocg_jax.analysis.inference import PROBE_FEATURES, infer_split, sample_images
from ocg_jax.analysis.probes import run_probes
from ocg_jax.analysis.runs import Run
from ocg_jax.data.labels import has_labels, scene_labels
from ocg_jax.data.pipeline import load_examples
from ocg_jax.metrics.frechet import frechet_distance
from ocg_jax.train import collapse

EXTRACTORS = ("scene_net", "inception")


@dataclasses.dataclass
class Evaluation:
    """What the evaluators of one ``evaluate_run`` share."""

    run: Run
    split: str
    source: object  # the split's data source
    train: object  # the train split's
    num_images: int
    batch_size: int
    seed: int
    progress: bool
    options: dict  # evaluate_run's keyword options (fd_images, probe_train_images, ...)
    eval_batch: object  # inference.make_eval_batch(run, probe_features)
    notes: list[str] = dataclasses.field(default_factory=list)
    # the first pass over the split (``first_pass`` examples): per-example scores, model
    # features and the inputs
    scores: dict | None = None
    features: np.ndarray | None = None
    inputs: np.ndarray | None = None

    def note(self, text: str) -> None:
        self.notes.append(text)
        if self.progress:
            print(f"note: {text}", flush=True)

    def clip(self, what: str, n: int, source, split: str) -> int:
        """``n`` cut to the size of ``source``, with a note when it is."""
        if n <= len(source):
            return n
        self.note(f"{what}={n} is more than the {len(source)} images of the {split} split; "
                  f"using {len(source)}")  # fmt: skip
        return len(source)

    @property
    def labels(self) -> bool:
        return has_labels(self.run.config.data.name)


def scores(ev: Evaluation) -> dict:
    """Means and stds over images of the eval step's per-example scores."""
    s = {k: v[: ev.num_images] for k, v in ev.scores.items()}
    return {
        "metrics": {k: float(np.nanmean(v)) for k, v in s.items()},
        "metrics_std": {k: float(np.nanstd(v)) for k, v in s.items()},
    }


def probe_sizes(ev: Evaluation) -> tuple[int, int]:
    """``(train, test)`` images for the probes, ``(0, 0)`` when they do not run."""
    o = ev.options
    n_train, n_test = o["probe_train_images"], o["probe_test_images"]
    if not (n_train and n_test and ev.labels):
        return 0, 0
    return ev.clip("probe_train_images", n_train, ev.train, "train"), ev.clip(
        "probe_test_images", n_test, ev.source, ev.split
    )


def probes(ev: Evaluation) -> dict | None:
    """Logistic and MLP probes of scene labels on the model's features and on pixels."""
    n_train, n_test = probe_sizes(ev)
    if not n_train:
        return None
    run, data = ev.run, ev.run.config.data
    _, f_tr, x_tr = infer_split(run, ev.eval_batch, ev.train, n_train, ev.batch_size, ev.seed,
                                "probe train", ev.progress)  # fmt: skip
    f_te, x_te = ev.features[:n_test], ev.inputs[:n_test]
    y_tr = scene_labels(data.name, load_examples(ev.train, n_train))
    y_te = scene_labels(data.name, load_examples(ev.source, n_test))
    pixels = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0
    return {
        "features": PROBE_FEATURES[ev.options["probe_features"]],
        "train_images": n_train,
        "test_images": n_test,
        "latents": run_probes(f_tr, y_tr, f_te, y_te, seed=ev.seed),
        "pixels": run_probes(pixels(x_tr), y_tr, pixels(x_te), y_te, seed=ev.seed),
    }


def get_extractor(run: Run, name: str, inception_weights=None, steps=None, progress=False):
    """The feature extractor ``name`` for ``run``'s dataset (see ``EXTRACTORS``); ``steps``
    None: ``feature_net.default_steps`` of the train split."""
    if name == "scene_net":
        data = run.config.data
        return scene_features(data.name, data.config, run.data_dir, steps=steps, progress=progress)
    if name == "inception":
        if not inception_weights:
            raise ValueError("the inception extractor needs --inception_weights=FILE (see README)")
        return InceptionFeatures.from_file(inception_weights)
    raise ValueError(f"unknown feature extractor {name!r}; known: {EXTRACTORS}")


def frechet(ev: Evaluation) -> dict | None:
    """Fréchet distance of the test images to prior samples, beside its floor (to as many
    training images)."""
    o, run = ev.options, ev.run
    if not (o["fd_images"] and o["fd_samples"]) or run.model.input_spec.field != "image":
        return None
    if o["extractor"] == "scene_net" and not ev.labels:
        ev.note(f"no Fréchet distance: the offline feature net trains on scene labels, which "
                f"{run.config.data.name!r} does not have (use --extractor=inception with its "
                "weights)")  # fmt: skip
        return None
    n = ev.clip("fd_images", o["fd_images"], ev.source, ev.split)
    feat = get_extractor(run, o["extractor"], o["inception_weights"], o["feature_net_steps"],
                         ev.progress)  # fmt: skip
    spec = run.model.input_spec
    unit = lambda x: spec.to_unit(spec.preprocess(x))
    test = unit(load_examples(ev.source, n, ["image"])["image"])
    ref = unit(load_examples(ev.train, min(n, len(ev.train)), ["image"])["image"])
    samples = sample_images(run, o["fd_samples"], ev.batch_size, ev.seed, ev.progress)
    f_test = feat(test)
    return {
        "extractor": feat.name,
        "test_vs_samples": frechet_distance(f_test, feat(samples)),
        "test_vs_train": frechet_distance(f_test, feat(ref)),
        "num_test_images": n,
        "num_samples": o["fd_samples"],
    }


def counting(ev: Evaluation) -> dict:
    return count_evaluation(ev.run, ev.split, ev.num_images, ev.batch_size, ev.seed, ev.progress)


def foreground(ev: Evaluation) -> dict:
    return foreground_evaluation(ev.run, ev.scores, ev.eval_batch, ev.batch_size, ev.seed,
                                 ev.progress)  # fmt: skip


def colour_rules(ev: Evaluation) -> dict:
    return colour_rule_evaluation(ev.source, ev.num_images, ev.progress)


def collapse_record(ev: Evaluation) -> dict | None:
    """Restarts made and whether the evaluated areas are collapsed (``train/collapse.py``)."""
    model, config = ev.run.model, ev.run.config
    if not model.collapse_metrics or config.get("collapse") is None:
        return None
    s = scores(ev)["metrics"]
    return collapse.summary(ev.run.workdir, {k: s[k] for k in model.collapse_metrics}, config)


def disentanglement(ev: Evaluation) -> dict:
    o = ev.options
    return disentanglement_evaluation(ev.run, ev.split, o["disentanglement_images"],
                                      dci_images=o["dci_images"], seed=ev.seed,
                                      progress=ev.progress)  # fmt: skip


def log_likelihood(ev: Evaluation) -> dict:
    o = ev.options
    return log_likelihood_evaluation(ev.run, ev.split, o["iw_images"], o["iw_samples"],
                                     ev.seed, progress=ev.progress)  # fmt: skip


EVALUATORS = {
    "scores": scores,
    "frechet": frechet,
    "probes": probes,
    "counting": counting,
    "foreground": foreground,
    "colour_rules": colour_rules,
    "collapse": collapse_record,
    "disentanglement": disentanglement,
    "log_likelihood": log_likelihood,
}


def declared(run: Run, names: str | None = None) -> tuple[str, ...]:
    """The evaluators to run: ``names`` (comma-separated) if given, else the config's
    ``evaluators``, else the family's; ``scores`` always first."""
    given = names or run.config.get("evaluators") or ""
    chosen = [n for n in given.split(",") if n] or list(run.model.evaluators)
    unknown = sorted(set(chosen) - set(EVALUATORS))
    if unknown:
        raise ValueError(f"unknown evaluator(s) {unknown}; known: {sorted(EVALUATORS)}")
    return ("scores", *[n for n in dict.fromkeys(chosen) if n != "scores"])
