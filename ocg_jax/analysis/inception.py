"""Inception-v3 up to pool3 (the FID network) in Flax, with a weight loader.

Layer names follow torchvision / pytorch-fid (``Mixed_5b.branch1x1.conv``), so
the FID weights map one to one.  The FID variant differs from torchvision's
classifier in two places, both kept here: the average pools in the Mixed
blocks do not count padding, and the last block (``Mixed_7c``) max-pools its
pool branch.  No weights are downloaded: ``load_inception_weights`` reads

* the pytorch-fid file ``pt_inception-2015-12-05-6726825d.pth`` (needs torch
  installed to unpickle it), or
* an ``.npz`` with the same keys (``Conv2d_1a_3x3.conv.weight``, ...) holding numpy
  arrays in the torch layout, e.g. written once with ``numpy.savez(path,
  **{k: v.numpy() for k, v in torch.load(pth).items()})``.
"""

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ocg_jax.analysis.torch_weights import read_state_dict

Array = jax.Array


class BasicConv(nn.Module):
    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(
            self.features,
            self.kernel,
            self.stride,
            padding=((ph, ph), (pw, pw)),
            use_bias=False,
            name="conv",
        )(x)
        return nn.relu(nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x))


def _avg_pool(x):  # 3x3, stride 1, padding 1, padding not counted
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, stride=2, pad=0):
    return nn.max_pool(x, (3, 3), (stride, stride), ((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(384, (3, 3), 2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), 2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool(x)], -1)


class InceptionC(nn.Module):
    c7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.c7
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool(x))
        return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), 2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), 2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool(x)], -1)


class InceptionE(nn.Module):
    max_pool_branch: bool = False  # FID's Mixed_7c

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            -1,
        )
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            -1,
        )
        pooled = _max_pool(x, 1, 1) if self.max_pool_branch else _avg_pool(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
    """``[N, H, W, 3]`` in [0, 1] -> pool3 features ``[N, 2048]``.

    Images are resized (bilinear) to ``resize x resize`` (299 for FID; at least 75)
    and scaled to [-1, 1], as pytorch-fid does.
    """

    resize: int = 299

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.resize < 75:
            raise ValueError(
                f"Inception-v3 needs inputs of at least 75x75, got resize={self.resize}"
            )
        x = jax.image.resize(x, (x.shape[0], self.resize, self.resize, x.shape[3]), "bilinear")
        x = 2.0 * x - 1.0
        x = BasicConv(32, (3, 3), 2, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool(x)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (
            ("Mixed_6b", 128),
            ("Mixed_6c", 160),
            ("Mixed_6d", 160),
            ("Mixed_6e", 192),
        ):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool_branch=True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


_BN = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def torch_state_to_variables(state: dict[str, np.ndarray]) -> dict:
    """Torch-layout ``{"Mixed_5b.branch1x1.conv.weight": array, ...}`` -> Flax variables."""
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, value in state.items():
        *path, layer, leaf = key.split(".")
        if leaf == "num_batches_tracked" or key.startswith(("fc.", "AuxLogits.")):
            continue  # classifier heads: not part of pool3
        value = np.asarray(value, np.float32)
        if layer == "conv" and leaf == "weight":
            collection, name, value = "params", "kernel", value.transpose(2, 3, 1, 0)  # OIHW->HWIO
        elif layer == "bn" and leaf in _BN:
            collection, name = _BN[leaf]
        else:
            raise ValueError(f"unexpected Inception weight {key!r}")
        node = variables[collection]
        for part in (*path, layer):
            node = node.setdefault(part, {})
        node[name] = value
    return variables


def load_inception_weights(path: str | Path) -> dict:
    """Flax variables for ``InceptionV3`` from a ``.pth`` (pytorch-fid) or ``.npz`` file.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` if the file does
    not hold exactly the pool3 network's weights.
    """
    where = "see README (Fréchet distances) for how to get pt_inception-2015-12-05-6726825d.pth"
    state = read_state_dict(path, "Inception", where)
    variables = torch_state_to_variables(state)
    expected = jax.eval_shape(
        InceptionV3(resize=75).init, jax.random.PRNGKey(0), jnp.zeros((1, 75, 75, 3))
    )
    exp_shapes = jax.tree_util.tree_map(lambda a: a.shape, expected)
    got_shapes = jax.tree_util.tree_map(lambda a: a.shape, variables)
    if exp_shapes != got_shapes:
        flat_e = dict(jax.tree_util.tree_flatten_with_path(exp_shapes)[0])
        flat_g = dict(jax.tree_util.tree_flatten_with_path(got_shapes)[0])
        missing = sorted(jax.tree_util.keystr(k) for k in flat_e.keys() - flat_g.keys())[:3]
        extra = sorted(jax.tree_util.keystr(k) for k in flat_g.keys() - flat_e.keys())[:3]
        raise ValueError(
            f"{path} is not an Inception-v3 pool3 weight file "
            f"(missing e.g. {missing}, unexpected e.g. {extra}, or shapes differ)"
        )
    return variables


class InceptionFeatures:
    """Inception-v3 pool3 as a feature extractor: ``extractor(images) -> [N, 2048]``."""

    name = "inception_v3_pool3"

    def __init__(self, variables: dict, resize: int = 299):
        self.variables = variables
        net = InceptionV3(resize=resize)
        self._apply = jax.jit(lambda v, x: net.apply(v, x))

    @classmethod
    def from_file(cls, path: str | Path, resize: int = 299) -> "InceptionFeatures":
        return cls(load_inception_weights(path), resize)

    def __call__(self, images, batch_size: int = 50) -> np.ndarray:
        images = np.asarray(images, np.float32)
        out = [
            self._apply(self.variables, images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate([np.asarray(o) for o in out])
