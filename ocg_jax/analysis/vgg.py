"""VGG-16's convolutional features up to ``features.20`` (conv4_2 and its ReLU), the
feature loss of Bau et al.'s ``optimize_residuals.py``, from torchvision's weights the
user has (``vgg16-397923af.pth``, or an ``.npz`` of it: ``torch_weights``).

Layer names follow torchvision's ``features`` indices (``features_0`` is ``features.0``),
so its weights map one to one.  Images enter in [-1, 1] with no ImageNet normalisation,
as the original feeds its GAN's images.  ``[N, S, S, 3] -> [N, S/8, S/8, 512]``.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ocg_jax.analysis.torch_weights import read_state_dict

# torchvision's vgg16 ``features`` up to index 20: widths of its 3x3 convs, "M" a 2x2 max pool
LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512)
WHERE = (
    "VGG-16 is torchvision's vgg16-397923af.pth (ImageNet weights); give its path, or an "
    ".npz of it, with --vgg_weights"
)


class VGG16Features(nn.Module):
    @nn.compact
    def __call__(self, x):
        index = 0  # torchvision's: a conv and its ReLU take two, a pool one
        for width in LAYERS:
            if width == "M":
                x, index = nn.max_pool(x, (2, 2), (2, 2)), index + 1
                continue
            x = nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), name=f"features_{index}")(x)
            x, index = nn.relu(x), index + 2
        return x


def conv_indices() -> list[int]:
    """torchvision's ``features`` indices of the convs ``VGG16Features`` holds."""
    out, index = [], 0
    for width in LAYERS:
        out += [] if width == "M" else [index]
        index += 1 if width == "M" else 2
    return out


def load_vgg_params(path) -> dict:
    """Flax params of ``VGG16Features`` from torchvision's state dict at ``path`` (its
    classifier and later convs are ignored); an error names a missing or misshapen conv."""
    state = read_state_dict(path, "VGG-16", WHERE)
    params = {}
    for i in conv_indices():
        weight, bias = state.get(f"features.{i}.weight"), state.get(f"features.{i}.bias")
        if weight is None or bias is None or weight.ndim != 4:
            raise ValueError(f"{path} is not a VGG-16 state dict: no conv features.{i}")
        kernel = np.asarray(weight, np.float32).transpose(2, 3, 1, 0)  # OIHW -> HWIO
        params[f"features_{i}"] = {"kernel": kernel, "bias": np.asarray(bias, np.float32)}
    expected = jax.eval_shape(VGG16Features().init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)))
    shapes = lambda tree: jax.tree.map(lambda a: tuple(a.shape), tree)
    if shapes(expected["params"]) != shapes(params):
        raise ValueError(f"{path}: its convs' shapes are not VGG-16's ({shapes(params)})")
    return params


def vgg_features_fn(path, to_unit):
    """A pure ``[N, S, S, 3]`` (model space; ``to_unit`` maps it to [0, 1]) ``-> [N, D]``:
    the flattened ``features.20`` map of images put in [-1, 1]."""
    net, params = VGG16Features(), load_vgg_params(path)

    def features(x):
        h = net.apply({"params": params}, 2.0 * to_unit(x) - 1.0)
        return h.reshape(h.shape[0], -1)

    return features
