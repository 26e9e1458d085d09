"""Layer-wise inversion (Bau et al. 2019): what a generator or decoder cannot reconstruct.

A decoder ``G`` (a GAN's generator; the decoder of a DC-VAE, BD-VAE or MONet; GENESIS's
mask and component decoders) maps a code ``z`` to images; its *stages* are the outputs
of its direct sub-layers but the last, and a delta can be added to each through flax's
method interception, without the decoder knowing.  For the multi-component models a
stage holds every component, so each component gets its own delta.  Three ways to
reconstruct a real image ``x`` are compared:

* ``encoder``: ``G(z0)`` with ``z0 = E(x)`` (a GAN: the paper's hybrid encoder trained on
  its samples; a VAE: its posterior mean);
* ``z``: ``z`` optimised from ``z0`` by full-batch L-BFGS (the paper's baseline);
* ``layerwise``: ``z`` and a residual on each of the first ``n`` stages optimised:
  ``r = G_f(delta_n + g_n(... delta_1 + g_1(z)))``, by default as many stages as keep
  the free numbers within half an image's pixel values (the paper's are about a
  quarter; with more, the residuals could paint any image and the question is empty).

The loss is the paper's: L1 on pixels plus L1 on the features of a fixed network (the
dataset's scene net, ``ocg_jax.analysis.feature_net``; the paper's is VGG-16), ours
relative to the target's mean |feature|, plus ``lam * sum_i mean(delta_i^2)`` for the
residuals.  Adam from lr 0.01, halved at steps 800, 1200 and 1800 (the paper's
schedule); the per-image problems are ``vmap``-ed and their steps run in one
``lax.scan`` under ``jit``.  A GAN's starting codes come from the paper's hybrid encoder:
per-stage inverse networks composed (``layer_inverse``).
Images ``[N, S, S, 3]`` in the model's input range.
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ocg_jax.analysis.inversion_search import (  # noqa: F401 (re-exported: the searches' home)
    CodeSearch,
    LayerwiseSearch,
    code_slice,
    image_loss,
    learning_rate,
    search,
)
from ocg_jax.platform.progress import tqdm

METHODS = ("encoder", "z", "layerwise")
# where each family's stages live: one module path per decoder (GENESIS has two)
DECODER_PATHS = {
    "gan": ((),),
    "dc_vae": (("dec",),),
    "bd_vae": (("dec",),),
    "monet": (("decoder",),),
    "genesis": (("mask_decoder",), ("comp_decoder",)),
    "genesis_s": (("mask_decoder",), ("comp_decoder",)),
}


@dataclasses.dataclass(frozen=True)
class Decoder:
    """The decoder(s) of a family that has them (``DECODER_PATHS``), as ``code -> images``.

    A code is an array ``[B, Z]`` (GAN, DC-VAE, BD-VAE), ``[B, K, Dc]`` (MONet: one
    latent per component, composed with the decoded masks as its sampler does) or
    ``{"zm": [B, K, Dm], "zc": [B, K, Dc]}`` (GENESIS; GENESIS-S has no ``zc``).  The
    stages of a multi-component decoder hold every component (``[B * K, ...]``), so a
    delta is per component."""

    model: object

    def __post_init__(self):
        if self.model.name not in DECODER_PATHS:
            raise ValueError(
                f"no decoder to invert for {self.model.name!r}; families with one: "
                f"{sorted(DECODER_PATHS)}"
            )

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        return DECODER_PATHS[self.model.name]

    def __call__(self, variables, code):
        """``code -> [B, S, S, 3]`` in the model's input range."""
        name, net = self.model.name, self.model.net
        if name == "gan":
            return self.model.generate(variables, code)[0]
        if name == "monet":
            return net.apply(variables, code, method="render")[0]
        if name.startswith("genesis"):
            return net.apply(variables, code["zm"], code.get("zc"), method="render")[0]
        return net.apply(variables, code, method="_decode")

    def _path_of_stage(self, ctx) -> tuple[str, ...] | None:
        path = tuple(ctx.module.path)
        if ctx.method_name != "__call__":
            return None
        return next((p for p in self.paths if path[:-1] == p and len(path) == len(p) + 1), None)

    def stage_shapes(self, variables, code) -> dict[str, tuple[int, ...]]:
        """``{stage path: output shape}`` in call order, each decoder's output layer left out."""
        shapes, last = {}, {}

        def record(next_fun, args, kwargs, ctx):
            out = next_fun(*args, **kwargs)
            parent = self._path_of_stage(ctx)
            if parent is not None:
                key = "/".join(ctx.module.path)
                shapes[key], last[parent] = out.shape, key
            return out

        with nn.intercept_methods(record):  # a fresh function, so no cached trace skips it
            jax.eval_shape(lambda v, c: self(v, c), variables, code)
        return {k: v for k, v in shapes.items() if k not in last.values()}

    def early_stages(self, shapes: dict, layers: int | None, budget: int | None = None):
        """The stages that get a residual: the first ``layers`` of each decoder; by default
        as many as keep their numbers within ``budget`` (``residual_stages`` passes what
        half an image's pixel values leave after the code; the paper's residuals are
        about a quarter), at least one, and all of them without a budget.  The rest (the
        paper's G_f) is left as it is."""
        per_path = [[k for k in shapes if tuple(k.split("/")[:-1]) == p] for p in self.paths]
        shortest = min(len(stages) for stages in per_path)
        if layers is None:
            size = lambda n: sum(int(np.prod(shapes[k])) for st in per_path for k in st[:n])
            fits = [n for n in range(1, shortest + 1) if budget is None or size(n) <= budget]
            layers = max(fits, default=1)
        if not 1 <= layers <= shortest:
            raise ValueError(f"layers must be in 1..{shortest} for this decoder, got {layers}")
        return [k for stages in per_path for k in stages[:layers]]

    def with_stages(self, variables, code, replace: dict | None = None):
        """``(images, {stage path: output})`` of one pass, ``replace[stage]`` standing in for
        those stages' outputs (the later stages see it; the earlier ones run unused)."""
        outs, replace = {}, replace or {}

        def swap(next_fun, args, kwargs, ctx):
            out = next_fun(*args, **kwargs)
            if self._path_of_stage(ctx) is None:
                return out
            key = "/".join(ctx.module.path)
            outs[key] = replace.get(key, out)
            return outs[key]

        with nn.intercept_methods(swap):
            images = self(variables, code)
        return images, outs

    def with_deltas(self, variables, code, deltas: dict):
        """The decoder's images with ``deltas[stage]`` added to each stage's output."""

        def add(next_fun, args, kwargs, ctx):
            out = next_fun(*args, **kwargs)
            key = "/".join(ctx.module.path)
            hit = key in deltas and self._path_of_stage(ctx) is not None  # () is the GAN's path
            return out + deltas[key] if hit else out

        with nn.intercept_methods(add):
            return self(variables, code)


def posterior_code(model, outputs):
    """A VAE's posterior means as the code its ``Decoder`` takes (see ``Decoder``)."""
    if model.name.startswith("genesis"):
        code = {"zm": outputs.zm_mean}
        return code if outputs.zc_mean is None else code | {"zc": outputs.zc_mean}
    return outputs.zc_mean if model.name == "monet" else outputs.z_mean


def initial_codes(model, variables, images, steps=2000, seed=0, layers=None, progress=False):
    """``(codes, notes)``: a GAN's codes from the paper's hybrid encoder (per-stage inverses
    of its residual stages, composed and trained for ``steps`` a phase:
    ``layer_inverse.HybridEncoder``), or a VAE's posterior means (``posterior_code``)."""
    if model.name == "gan":
        from ocg_jax.analysis.layer_inverse import HybridEncoder

        decoder, probe = Decoder(model), model.noise(jax.random.PRNGKey(seed), 1)
        _, stages, _ = residual_stages(decoder, variables, probe, images[0].size, layers)
        encoder = HybridEncoder(model, decoder, variables, stages)
        losses = encoder.train(steps, seed, progress)
        notes = {"encoder": f"hybrid: inverses of {', '.join(stages)} over a conv bottom"}
        return encoder(images), notes | {"encoder_losses": losses, "encoder_z_mse": losses["z_mse"]}
    encode = jax.jit(
        lambda v, x, key: posterior_code(model, model.apply(v, x, key, train=False)[0])
    )
    return encode(variables, images, jax.random.PRNGKey(seed)), {"encoder": "the posterior mean"}


def check_z_search(z_search: str) -> str:
    if z_search not in ("per_image", "joint"):
        raise ValueError(f"z_search must be 'per_image' or 'joint', got {z_search!r}")
    return z_search


def check_methods(methods) -> tuple[str, ...]:
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"inversion methods must be some of {METHODS}, got {methods}")
    return methods


def invert(
    decoder,
    variables,
    images,
    z0,
    features,
    steps: int = 3000,
    lr: float = 0.01,
    lam: float = 1.0,
    layers: int | None = None,
    methods=METHODS,
    chunk: int = 100,
    progress: bool = False,
    z_search: str = "per_image",
):
    """``{method: reconstructions [N, S, S, 3]}`` of ``images`` from codes ``z0`` (leading
    axis N; see ``Decoder``) by each of ``methods`` (``METHODS``); ``features``: a fixed
    ``[N, S, S, 3] -> [N, D]`` network on model-space images; ``layers``: how many early
    stages of each decoder get a residual (``Decoder.early_stages``).  Images are
    optimised ``chunk`` at a time (each on its own: the chunks only bound the memory); with
    ``progress``, a bar per method counts image-steps, moved every block of ``search``;
    ``z_search``: ``per_image`` (the paper's) or ``joint`` L-BFGS (``CodeSearch``)."""
    methods = check_methods(methods)
    images = jnp.asarray(images, jnp.float32)
    shapes, names, _ = residual_stages(decoder, variables, z0, images[0].size, layers)
    stages = tuple((k, shapes[k]) for k in names)
    out = {"encoder": jax.jit(decoder)(variables, z0)} if "encoder" in methods else {}
    searchers = {
        "z": CodeSearch(decoder, features, per_image=check_z_search(z_search) == "per_image"),
        "layerwise": LayerwiseSearch(decoder, features, stages, lr, lam),
    }
    for method in [m for m in ("z", "layerwise") if m in methods]:
        desc = f"{method}: {steps} steps, {chunk} images a chunk"
        total = steps * len(images)
        with tqdm(
            total=total, desc=desc, unit="image-step", disable=not progress, leave=False
        ) as bar:
            parts = [
                search(
                    searchers[method], variables, code_slice(z0, slice(i, i + chunk)),
                    images[i : i + chunk], steps, bar=bar,
                )[0]
                for i in range(0, len(images), chunk)
            ]  # fmt: skip
        out[method] = jnp.concatenate(parts)
    return {k: np.asarray(v) for k, v in out.items()}


def residual_stages(decoder, variables, z0, pixel_values: int, layers: int | None = None):
    """``(stage shapes, the stages that get a residual, free parameters per method)`` for
    codes ``z0`` and images of ``pixel_values`` numbers each: by default as many early
    stages as keep ``layerwise``'s free numbers (code and residuals) within half the
    pixel values.  Free parameters, per image: none for the encoder, the code for ``z``,
    the code and the residuals for ``layerwise``."""
    one = code_slice(z0, slice(0, 1))
    shapes = decoder.stage_shapes(variables, one)  # [K or 1, ...]: one image's
    code = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(one))
    names = decoder.early_stages(shapes, layers, pixel_values // 2 - code)
    residuals = sum(int(np.prod(shapes[k])) for k in names)
    return shapes, names, {"encoder": 0, "z": code, "layerwise": code + residuals}


def scene_features_fn(model, run, steps: int | None = None, progress: bool = False):
    """The dataset's scene net (trained for ``steps`` and cached; None: the evaluation's
    default) as a pure ``[N, S, S, 3]`` (model space) ``-> [N, 128]``."""
    from ocg_jax.analysis.evaluators import get_extractor

    net = get_extractor(run, "scene_net", steps=steps, progress=progress)
    params, spec = net.params, model.input_spec
    to_unit = lambda x: (x - spec.low) / (spec.high - spec.low)
    return lambda x: net.model.net.apply({"params": params}, to_unit(x)).features


def inversion_picture(images_unit, recons_unit: dict, seg_real, seg_recons: dict, classes):
    """uint8 grid: rows real, each method's reconstruction; each image beside its segmentation."""
    from ocg_jax import viz

    colours = viz.palette(len(classes))
    paint = lambda maps: colours[np.asarray(maps)]
    rows, labels = [], []
    for name, x, seg in [("real", images_unit, seg_real)] + [
        (m, recons_unit[m], seg_recons[m]) for m in recons_unit
    ]:
        pair = np.stack([x, paint(seg)], 1).reshape(-1, *x.shape[1:])  # image, segmentation, ...
        rows.append(pair)
        labels.append(name)
    return viz.label_rows(viz.grid(rows), labels)


def format_report(report: dict) -> str:
    """The lines ``experiments.invert`` prints."""
    lines = []
    if "encoder_z_mse" in report:
        lines.append(f"encoder's z error on samples: {report['encoder_z_mse']:.4f}")
    for method, r in report["methods"].items():
        worst = max(r["class_area_error"].items(), key=lambda kv: kv[1])
        lines.append(
            f"{method:<10} {r['free_parameters']:6d} free numbers of {r['pixel_values']}  "
            f"loss {r['objective']:.4f}  pixel MSE {r['pixel_mse']:.4f}  largest class-area "
            f"error: {worst[0]} {worst[1]:.2f}%"
        )
    if "warning" in report:
        lines.append(f"warning: {report['warning']}")
    return "\n".join(lines)


def score_methods(images, recons, features, free, seg_real, seg_recons, seg) -> dict:
    """Per method: its free numbers and the image's, the objective (pixel + feature L1),
    pixel MSE, each class's mean absolute area error (percent) of ``seg``'s maps of the
    reconstructions ``seg_recons`` against the real images' ``seg_real``, and, as the
    paper's figures compare them, each class's mean area in both (``class_areas``)."""
    from ocg_jax.metrics.segment_stats import class_area_change, class_areas

    areas_real = class_areas(seg_real, len(seg.classes))
    objective = jax.jit(jax.vmap(functools.partial(image_loss, features)))
    scores = {}
    for method, x in recons.items():
        areas = class_areas(seg_recons[method], len(seg.classes))
        err = np.abs(areas - areas_real).mean(0)
        scores[method] = {
            "free_parameters": free[method],
            "pixel_values": int(np.prod(images.shape[1:])),
            "objective": float(np.mean(objective(x, images))),
            "pixel_mse": float(np.mean(np.square(x - np.asarray(images)))),
            "class_area_error": dict(zip(seg.classes, map(float, err), strict=True)),
            "class_areas": class_area_change(areas_real, areas, seg.classes),
        }
    return scores


def loss_features(run, vgg_weights=None, steps: int | None = None, progress: bool = False):
    """``(features, what they are)``: VGG-16's (the paper's) from ``vgg_weights`` if given,
    else the dataset's scene net trained for ``steps``; ``[N, S, S, 3]`` (model space)
    ``-> [N, D]``."""
    if vgg_weights:
        from ocg_jax.analysis.vgg import vgg_features_fn

        features = vgg_features_fn(vgg_weights, run.model.input_spec.to_unit)
        return features, f"VGG-16 features.20 ({vgg_weights})"
    return scene_features_fn(run.model, run, steps, progress), "the dataset's scene net"


def run_inversion(
    run,
    num_images: int = 500,
    steps: int = 3000,
    encoder_steps: int = 2000,
    lam: float = 1.0,
    layers: int | None = None,
    segmenter_steps: int | None = None,
    feature_net_steps: int | None = None,
    out_dir=None,
    seed: int = 0,
    methods=METHODS,
    progress: bool = False,
    vgg_weights=None,
    z_search: str = "per_image",
) -> dict:
    """Invert ``num_images`` test images of ``run`` (any family in ``DECODER_PATHS``) by each
    of ``methods``; segment the real images and the reconstructions.  Writes ``inversion.json``
    (per method: pixel MSE and the mean absolute error of each class's area, in percent)
    and ``inversion.png``; ``progress``: a bar for every stage that trains or searches.  The
    feature loss reads VGG-16 (the paper's) from ``vgg_weights`` if given, else the scene net;
    ``z_search``: how the z-only baseline's L-BFGS runs (``CodeSearch``)."""
    import json
    from pathlib import Path

    from ocg_jax.analysis.segmenter import scene_segmenter
    from ocg_jax.data.pipeline import load_examples, load_source
    from ocg_jax.viz import save_png

    model, methods, _ = run.model, check_methods(methods), check_z_search(z_search)
    decoder = Decoder(model)
    data, spec = run.config.data, model.input_spec
    test = load_source(data.name, data.config, "test", run.data_dir)
    images = spec.preprocess(load_examples(test, min(num_images, len(test)), ["image"])["image"])
    z0, notes = initial_codes(model, run.variables, images, encoder_steps, seed, layers, progress)
    features, notes["features"] = loss_features(run, vgg_weights, feature_net_steps, progress)
    recons = invert(
        decoder, run.variables, images, z0, features, steps, 0.01, lam, layers, methods,
        progress=progress, z_search=z_search,
    )  # fmt: skip
    pixel_values = int(np.prod(images.shape[1:]))
    _, stages, free = residual_stages(decoder, run.variables, z0, pixel_values, layers)
    if free["layerwise"] > pixel_values // 2:
        notes["warning"] = (
            f"the first stage alone gives layer-wise inversion {free['layerwise']} free "
            f"numbers an image, more than half its {pixel_values} pixel values: a low "
            "error shows little about what the decoder cannot draw"
        )
    seg = scene_segmenter(
        data.name, data.config, run.data_dir, steps=segmenter_steps, progress=progress
    )
    unit = lambda x: np.clip(spec.to_unit(x), 0.0, 1.0)
    seg_real = seg(unit(images))
    report = {
        "workdir": str(run.workdir),
        "model": model.name,
        "step": run.step,
        "num_images": int(len(images)),
        "steps": steps,
        "z_search": f"{z_search} L-BFGS",
        "lambda": lam,
        "stages_with_deltas": stages,
        **notes,
        "segmenter": {"name": seg.name, **seg.test_scores},
    }
    seg_recons = {m: seg(unit(x)) for m, x in recons.items()}
    report["methods"] = score_methods(images, recons, features, free, seg_real, seg_recons, seg)
    out = Path(out_dir) if out_dir else Path(run.workdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inversion.json").write_text(json.dumps(report, indent=2))
    shown = slice(0, 8)  # the picture shows the first 8 images; the scores take them all
    picture = inversion_picture(
        unit(images[shown]), {m: unit(x[shown]) for m, x in recons.items()},
        seg_real[shown], {m: v[shown] for m, v in seg_recons.items()}, seg.classes,
    )  # fmt: skip
    save_png(picture, out / "inversion.png")
    report["out_dir"] = str(out)
    return report
