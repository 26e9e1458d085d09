"""The model contract: ``Family`` declares every member a family may give, with its default.

A family is a frozen dataclass that subclasses ``Family`` and overrides what it has:

    init(rng, batch) -> variables
    apply(variables, inputs, rng, *, train) -> (outputs, model_state)
    sample(variables, rng, num) -> outputs            (``samples = True``)
    features(outputs, *, sample=True) -> [B, D]

Outputs are a ``flax.struct.dataclass`` holding at least ``recon`` where the family
reconstructs, and its per-example loss terms in ``losses``.  ``apply`` returns the
updated model state (batch-norm statistics; unchanged when ``train=False``).  The
engine reads a family only through these members: no probing with ``getattr``.
Adding a family: subclass ``Family``, ``models.registry.register`` it (or add a row to
the registry's table), give it a config and a test (``docs/design.md``).
"""

import dataclasses
import functools
import types
from collections.abc import Mapping
from typing import Any, ClassVar

import flax.linen as nn
import jax

from ocg_jax import viz
from ocg_jax.nn import layers
from ocg_jax.specs import InputSpec, PointSpec

Array = jax.Array
Variables = dict[str, Any]

__all__ = ["Array", "Family", "InputSpec", "LinenFamily", "PointSpec", "Variables", "sample_fn"]


class Family:
    """Every member the library reads of a model family, each with its documented default."""

    name: str
    #: the recipe it trains with unless the config names one (``ocg_jax.train.recipes``)
    recipe: ClassVar[str] = "elbo"
    #: names of the per-example loss terms in ``outputs.losses`` that are KLs
    kl_terms: tuple[str, ...] = ()
    #: whether ``sample`` draws from a prior (ReDO redraws images: it has none)
    samples: ClassVar[bool] = True
    #: what ``experiments.evaluate`` runs for it (``ocg_jax.analysis.evaluators``), in order
    evaluators: ClassVar[tuple[str, ...]] = ("scores", "frechet", "probes")
    #: what the training loop calls at each flush of the metrics (``ocg_jax.train.monitors``)
    monitors: ClassVar[tuple[str, ...]] = ()
    #: per-step metrics (region areas in [0, 1]) the ``collapse`` monitor watches
    collapse_metrics: tuple[str, ...] = ()
    #: batch fields beside the input that the train step reads (labels its metrics use)
    label_fields: ClassVar[tuple[str, ...]] = ()
    #: ``score_function``: the top-level parameter key of the baseline network
    baseline_group: ClassVar[str | None] = None
    #: ``adversarial``: top-level parameter keys, one optimiser each, and the phases of a
    #: step, ``(phase, groups it updates)``, run in order (``phase_loss``)
    groups: tuple[str, ...] = ()
    phases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: ``supervised``: target name -> number of classes (``outputs.logits[name]``)
    targets: ClassVar[Mapping[str, int]] = types.MappingProxyType({})

    @property
    def input_spec(self) -> InputSpec | PointSpec:
        raise NotImplementedError(f"{type(self).__name__} must give its input_spec")

    def init(self, rng: Array, batch: Array) -> Variables:
        raise NotImplementedError

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        raise NotImplementedError

    def sample(self, variables: Variables, rng: Array, num: int) -> Any:
        """``num`` draws from the prior (families with ``samples``)."""
        raise NotImplementedError(f"the {self.name!r} family does not sample from a prior")

    def features(self, outputs: Any, *, sample: bool = True) -> Array:
        """``[B, D]`` what the probes read: posterior samples (or means, ``sample=False``)."""
        raise NotImplementedError(f"the {self.name!r} family gives no features to probe")

    def batch_metrics(self, outputs: Any, batch: dict) -> dict[str, Array]:
        """Scalars logged beside the loss at each train step (``{}``: none)."""
        return {}

    def example_metrics(self, outputs: Any, batch: dict) -> dict[str, Array]:
        """Per-example ``[B]`` scores the eval step adds to the loss terms (``{}``: none)."""
        return {}

    def batch_regularizers(self) -> dict:
        """``elbo``: ``{name: fn(outputs, variables, rng) -> scalar}`` added to the loss times
        ``config.regularizers[name]`` (``{}``: none)."""
        return {}

    def check_data(self, batch: dict) -> None:
        """Raise a clear error for a (host) data batch the family cannot learn from."""

    def phase_loss(self, phase: str, variables: Variables, images: Array, rng: Array):
        """``adversarial``: ``(loss, (metrics, model_state))`` of one phase on a batch."""
        raise NotImplementedError(f"the {self.name!r} family has no adversarial phases")

    def evaluate_batch(self, variables: Variables, images: Array, batch: dict, rng: Array):
        """``adversarial``: ``({name: [B]}, outputs)`` scores of a batch in evaluation mode
        (``({}, None)``: none); the other recipes score what ``apply`` returns."""
        return {}, None

    def pictures(self, variables: Variables, batch: dict, outputs: Any, rng: Array, num: int = 8):
        """``{name: uint8 [H, W, 3]}``: the inputs of ``batch`` over their reconstructions in
        ``outputs`` (and masks, components), and ``num`` prior samples."""
        spec = self.input_spec
        pics = {}
        if outputs is not None:
            pics["reconstructions"] = viz.reconstruction_grid(spec, batch["image"], outputs, num)
        if self.samples:
            pics["samples"] = viz.sample_grid(spec, sample_fn(self)(variables, rng, num))
        return pics


@dataclasses.dataclass(frozen=True)
class LinenFamily(Family):
    """The contract for a family whose network is one Linen module ``net``.

    ``net.__call__(images, train=...)`` gives the outputs (randomness from the
    ``"sample"`` rng stream); ``net.sample(num)`` draws from the prior; ``net.compute_dtype``
    is the dtype its convs and dense layers compute in.  A subclass adds ``kl_terms`` and
    ``features``.
    """

    net: nn.Module
    name: str

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, 3))

    def _dtype(self):
        """Mixed precision: convs and dense layers in the net's ``compute_dtype``."""
        return layers.computing_in(self.net.compute_dtype)

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        p_rng, s_rng = jax.random.split(rng)
        with self._dtype():
            return self.net.init({"params": p_rng, "sample": s_rng}, batch, train=False)

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool):
        self.input_spec.check(images)
        state = {k: v for k, v in variables.items() if k != "params"}
        with self._dtype():
            if not train or "batch_stats" not in variables:
                out = self.net.apply(variables, images, train=train, rngs={"sample": rng})
                return out, state
            out, new_state = self.net.apply(
                variables, images, train=True, rngs={"sample": rng}, mutable=["batch_stats"]
            )
        return out, {**state, **new_state}

    def sample(self, variables: Variables, rng: Array, num: int) -> Any:
        with self._dtype():
            method = type(self.net).sample
            return self.net.apply(variables, num, rngs={"sample": rng}, method=method)


@functools.cache
def sample_fn(model: Family):
    """Jitted ``(variables, rng, num) -> outputs`` from the prior; one per model."""
    return jax.jit(model.sample, static_argnums=2)
