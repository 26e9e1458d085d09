"""ReDO: unsupervised object segmentation by redrawing (Chen, Artières, Denoyer, NeurIPS 2019).

A mask network F splits an image into n regions; a generator per region redraws
its region from noise z (``tanh(.) * m_k``, the rest of the image kept); a
discriminator D must not tell redrawn images from real ones, and a recovery
network delta must read z back from the redrawn parts so that G cannot ignore
it.  Trained by the ``adversarial`` recipe in two phases per step, as the
original: ``redraw`` (F, G and delta on ``-mean D(redrawn) + lambda_z ||delta -
z||^2``, every region redrawn for every image) then ``discriminator`` (hinge
loss, real against redrawn).  Each batch is split in two halves: the first is
redrawn, the second is D's independent real batch (the original draws two
batches).

Images ``[B, S, S, 3]`` in [-1, 1]; masks ``[B, n, S, S]``.
"""

import dataclasses
import functools
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from ocg_jax.metrics.foreground import all_region_scores, best_region_scores
from ocg_jax.models.base import Array, Family, InputSpec, Variables
from ocg_jax.nn.redo import MaskNet, RegionGenerator, ResidualEncoder
from ocg_jax.objectives.adversarial import hinge_discriminator_loss, hinge_generator_loss
from ocg_jax.viz.redo import redrawing_grid

GROUPS = ("mask", "generator", "discriminator", "recovery")


@struct.dataclass
class ReDOOutputs:
    masks: Array  # [B, n, S, S]
    redrawn: Array  # [B, n, S, S, 3] region k redrawn, the rest of the input kept


class Generators(nn.Module):
    """One ``RegionGenerator`` per region (the ``generator`` parameter group)."""

    regions: int
    image_size: int
    nf: int

    @nn.compact
    def __call__(self, masks: Array, z: Array, update: bool) -> Array:
        """``[B, n, S, S], [B, n, Z] -> [B, n, S, S, 3]`` the generated parts."""
        parts = [
            RegionGenerator(self.image_size, self.nf, name=f"region_{k}")(
                masks[:, k], z[:, k], update
            )
            for k in range(self.regions)
        ]
        return jnp.stack(parts, axis=1)


class ReDONet(nn.Module):
    image_size: int = 128
    regions: int = 2
    z_dim: int = 32
    nf_mask: int = 64
    mask_res: int = 3
    nf_gen: int = 64
    nf_disc: int = 64
    nf_rec: int = 64
    lambda_z: float = 5.0  # weight of the latent-recovery error (the objective's, not a net's)
    torch_padding: bool = False  # F's stride-2 convs as the original's (the configs: True)

    def check(self) -> None:
        """Clear errors for settings the networks cannot take."""
        if self.image_size not in (32, 64, 128):
            raise ValueError(f"image_size must be 32, 64 or 128, got {self.image_size}")
        if self.regions < 2:
            raise ValueError(f"ReDO needs at least 2 regions, got {self.regions}")

    def setup(self):
        self.mask = MaskNet(
            self.regions, self.nf_mask, self.mask_res, torch_padding=self.torch_padding
        )
        self.generator = Generators(self.regions, self.image_size, self.nf_gen)
        self.discriminator = ResidualEncoder(1, self.nf_disc)
        self.recovery = ResidualEncoder(self.regions * self.z_dim, self.nf_rec)

    def redraw(self, x: Array, z: Array, update: bool):
        """``(masks [B, n, S, S], parts [B, n, S, S, 3], redrawn [B, n, S, S, 3])``."""
        masks = self.mask(x)
        parts = self.generator(masks, z, update)
        redrawn = parts + (1.0 - masks[..., None]) * x[:, None]
        return masks, parts, redrawn

    def discriminate(self, x: Array, update: bool) -> Array:
        """``[N, S, S, 3] -> [N]``."""
        return self.discriminator(x, update)[:, 0]

    def recover(self, parts: Array, update: bool) -> Array:
        """delta on the generated parts summed over regions -> z ``[B, n, Z]``."""
        return self.recovery(parts.sum(1), update).reshape(-1, self.regions, self.z_dim)

    def __call__(self, x: Array, z: Array, update: bool = False):
        """Every network once (initialisation)."""
        masks, parts, redrawn = self.redraw(x, z, update)
        s = self.image_size
        return self.discriminate(redrawn.reshape(-1, s, s, 3), update), self.recover(parts, update)


@dataclasses.dataclass(frozen=True)
class ReDO(Family):
    """ReDO behind the model contract, for the ``adversarial`` recipe."""

    net: ReDONet
    name: str = "redo"
    groups: tuple[str, ...] = GROUPS
    phases: tuple = (
        ("redraw", ("mask", "generator", "recovery")),
        ("discriminator", ("discriminator",)),
    )
    recipe: ClassVar[str] = "adversarial"
    samples: ClassVar[bool] = False  # it redraws images; it has no prior over scenes
    # its masks against the ground truth, beside the colour rules; its collapse record
    evaluators: ClassVar[tuple[str, ...]] = ("scores", "foreground", "colour_rules", "collapse")
    monitors: ClassVar[tuple[str, ...]] = ("collapse",)

    def __post_init__(self):
        self.net.check()  # when the family is made, before any run directory is touched

    @property
    def collapse_metrics(self) -> tuple[str, ...]:
        """Per-step region areas the ``collapse`` monitor watches (``train/collapse.py``)."""
        return tuple(f"area_{k}" for k in range(self.net.regions))

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec((self.net.image_size, self.net.image_size, 3), low=-1.0, high=1.0)

    def noise(self, rng, b: int) -> Array:
        """z ``[b, n, Z]`` ~ N(0, I): one noise per region."""
        return jax.random.normal(rng, (b, self.net.regions, self.net.z_dim))

    def init(self, rng: Array, batch: Array) -> Variables:
        self.input_spec.check(batch)
        p_rng, z_rng = jax.random.split(rng)
        z = self.noise(z_rng, batch.shape[0])
        return self.net.init(p_rng, batch, z, True)

    def phase_loss(self, phase: str, variables: Variables, images: Array, rng: Array):
        """``(loss, (metrics, model_state))`` of one phase on a batch (first half redrawn,
        second half real); both phases of a step draw the same z from the step's ``rng``,
        as the original redraws its batch for D with the z of the redraw phase."""
        half = images.shape[0] // 2
        x, real = images[:half], images[half:]
        z = self.noise(rng, half)
        s = self.net.image_size

        def run(net):
            masks, parts, redrawn = net.redraw(x, z, True)
            fake = net.discriminate(redrawn.reshape(-1, s, s, 3), True)
            if phase == "discriminator":
                loss = hinge_discriminator_loss(net.discriminate(real, True), fake)
                return loss, {}
            err_z = jnp.mean(jnp.square(net.recover(parts, True) - z))
            area = jnp.mean(masks, axis=(0, 2, 3))  # [n]
            metrics = {"loss_z": err_z, **{f"area_{k}": area[k] for k in range(area.shape[0])}}
            return hinge_generator_loss(fake) + self.net.lambda_z * err_z, metrics

        (loss, metrics), state = nn.apply(run, self.net, mutable=["batch_stats"])(variables)
        return loss, (metrics, {**{k: v for k, v in variables.items() if k != "params"}, **state})

    def apply(self, variables: Variables, images: Array, rng: Array, *, train: bool = False):
        """Evaluation: the masks and each region redrawn once."""
        self.input_spec.check(images)
        z = self.noise(rng, images.shape[0])
        masks, _, redrawn = self.net.apply(variables, images, z, False, method=ReDONet.redraw)
        return ReDOOutputs(masks, redrawn), {k: v for k, v in variables.items() if k != "params"}

    def evaluate_batch(self, variables: Variables, images: Array, batch: dict, rng: Array):
        """``({name: [B]}, outputs)``: each region's area and, with ``mask``, the accuracy and
        IoU of the best region per image (``accuracy``, ``iou``) and of each region as the
        foreground (``iou_region_k``)."""
        out, _ = self.apply(variables, images, rng)
        scores = {
            f"area_{k}": jnp.mean(out.masks[:, k], axis=(1, 2)) for k in range(self.net.regions)
        }
        if "mask" in batch:
            scores |= best_region_scores(out.masks, batch["mask"])
            acc, iou = all_region_scores(out.masks, batch["mask"])
            for k in range(self.net.regions):
                scores[f"iou_region_{k}"] = iou[:, k]
                scores[f"accuracy_region_{k}"] = acc[:, k]
        return scores, out

    def features(self, outputs: ReDOOutputs, *, sample: bool = True) -> Array:
        """``[B, n]``: the regions' areas (ReDO has no latent code of an image)."""
        return jnp.mean(outputs.masks, axis=(2, 3))

    def redraw(self, variables: Variables, images: Array, z: Array):
        """``(masks [B, n, S, S], redrawn [B, n, S, S, 3])`` of float ``images`` with noise
        ``z [B, n, Z]`` (jitted once per family)."""
        return _redraw_fn(self)(variables, images, z)

    def pictures(self, variables: Variables, batch: dict, outputs, rng: Array, num: int = 8):
        """``redrawing``: input, each mask, then each region redrawn with 3 noises."""
        images = batch["image"][:num]
        x = self.input_spec.preprocess(images)
        noise = lambda i: self.noise(jax.random.fold_in(rng, i), x.shape[0])
        draws = [self.redraw(variables, x, noise(i)) for i in range(3)]
        masks = draws[0][0]
        return {"redrawing": redrawing_grid(self.input_spec, images, masks, [r for _, r in draws])}


@functools.cache
def _redraw_fn(model: ReDO):
    def fn(variables, x, z):
        masks, _, redrawn = model.net.apply(variables, x, z, False, method=ReDONet.redraw)
        return masks, redrawn

    return jax.jit(fn)
