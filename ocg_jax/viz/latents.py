"""Pictures of a Disentangling Disentanglement run (``DDVAE.pictures``): uint8 grids by name.

Images (dSprites): ``reconstructions`` (inputs over reconstructions), ``samples``
and ``traversals`` (one row per latent dimension: the first input's posterior
mean with that dimension swept over +-2.5 prior std).  Points (pinwheel):
``encodings`` (posterior means over the prior's log-density) and
``reconstructions`` (the decoded points).
"""

import functools

import jax
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ocg_jax import viz

TRAVERSAL_RANGE = 2.5  # prior standard deviations each side


@functools.cache
def _decode_fn(model):
    return jax.jit(model.decode_at)


def traversal_latents(z0: np.ndarray, scales: np.ndarray, num: int) -> np.ndarray:
    """``[D * num, D]``: ``z0 [D]`` with dimension d swept linearly over
    ``+-TRAVERSAL_RANGE * scales[d]`` in row d."""
    d = z0.shape[0]
    steps = np.linspace(-TRAVERSAL_RANGE, TRAVERSAL_RANGE, num)
    z = np.repeat(np.tile(z0, (d, 1))[:, None], num, axis=1)  # [D, num, D]
    for i in range(d):
        z[i, :, i] = steps * scales[i]
    return z.reshape(d * num, d)


def prior_scales(model, variables) -> np.ndarray:
    """Per-dimension standard deviation of the model's prior (from samples)."""
    z = model.prior(variables).sample(jax.random.PRNGKey(0), (2000,))
    return np.asarray(z).std(axis=0)


def image_pictures(model, variables, batch, outputs, samples, num: int = 8) -> dict:
    spec = model.input_spec
    pics = {"reconstructions": viz.reconstruction_grid(spec, batch["image"], outputs, num)}
    pics["samples"] = viz.sample_grid(spec, samples)
    z0 = np.asarray(outputs.z_mean[0])
    scales = prior_scales(model, variables)
    z = traversal_latents(z0, scales, num)
    x = np.asarray(_decode_fn(model)(variables, z))
    x = spec.to_unit(x).reshape(z0.shape[0], num, *x.shape[1:-1], 3)
    rows = [np.clip(r, 0.0, 1.0) for r in x]
    # each row sweeps its dimension from -v to +v, left to right
    labels = [f"z{d} +-{TRAVERSAL_RANGE * scales[d]:.2g}" for d in range(len(rows))]
    pics["traversals"] = viz.label_rows(viz.grid(rows), labels)
    return pics


def _axes(size: float = 3.2):
    """A figure of its own (no pyplot state: safe in training loops and notebooks)."""
    fig = Figure(figsize=(size, size), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def figure_array(fig) -> np.ndarray:
    """A matplotlib figure as uint8 ``[H, W, 3]``."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def scatter_over_prior(ax, z: np.ndarray, prior, title: str = "", extent: float = 2.5):
    """Points ``z [N, 2]`` over the log-density of ``prior`` (2-D) on ``ax``."""
    grid = np.linspace(-extent, extent, 120)
    xx, yy = np.meshgrid(grid, grid)
    pts = np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)
    log_p = np.asarray(prior.log_prob(pts)).reshape(xx.shape)
    ax.contourf(xx, yy, np.maximum(log_p, -12.0), levels=20, cmap="Blues")
    ax.scatter(z[:, 0], z[:, 1], s=4, c="tab:red", alpha=0.7)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)


def point_pictures(model, variables, batch, outputs, samples) -> dict:
    """``encodings`` (2-D latents) and ``reconstructions``: the decoded means (blue) over
    the points given (grey; the loop gives the first few, ``make_pictures`` the split)."""
    del samples
    z = np.asarray(outputs.z_mean)
    pics = {}
    if z.shape[1] == 2:
        fig, ax = _axes()
        scatter_over_prior(ax, z, model.prior(variables), "encodings over log p(z)")
        pics["encodings"] = figure_array(fig)
    fig, ax = _axes()
    recon = np.asarray(outputs.recon)
    data = np.asarray(batch[model.input_spec.field])
    ax.scatter(data[:, 0], data[:, 1], s=4, c="0.6", label="data")
    ax.scatter(recon[:, 0], recon[:, 1], s=4, c="tab:blue", label="reconstruction")
    extent = 1.1 * max(np.abs(data).max(), np.abs(recon).max())
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("reconstructions", fontsize=9)
    pics["reconstructions"] = figure_array(fig)
    return pics
