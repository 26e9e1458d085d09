"""The layers models ask for: plain Flax/JAX, or their CPU-tuned forms on the CPU.

    from ocg_jax.nn import layers
    y = layers.Conv(32, (5, 5))(x)               # stride 1
    y = layers.StridedConv(32, (5, 5))(x)        # stride 2, SAME
    y = layers.UpConv(32, (5, 5))(x)             # PyTorch's ConvTranspose2d(5, 2, 2, 1)
    h = layers.NormGate(not train)(y)            # BatchNorm, then h * sigmoid(g)

Each factory returns the tuned form from ``ocg_jax.platform`` when the layers are
traced for the CPU (``tuned()``), else the plain form.  Both compute the same
function with the same parameters (names and shapes), so checkpoints move between
backends.  GPU and TPU compilers fuse and pick kernels themselves; the CPU forms
exist because XLA:CPU did not (``docs/performance.md``).  ``OCG_JAX_LAYERS=plain``
or ``=tuned`` overrides the choice (read when a model is traced).
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.platform import batchnorm_gate, derivatives, onednn, strided

Array = jax.Array
OVERRIDE = "OCG_JAX_LAYERS"
_DN = ("NHWC", "HWIO", "NHWC")

gate = batchnorm_gate.gate  # [..., 2C] -> [..., C]: h * sigmoid(g)


def tuned() -> bool:
    """Whether layers take their CPU-tuned forms: ``OCG_JAX_LAYERS`` if set to ``plain`` or
    ``tuned``, else whether JAX's default backend is the CPU."""
    choice = os.environ.get(OVERRIDE, "").lower()
    if choice not in ("", "auto", "plain", "tuned"):
        raise ValueError(f"{OVERRIDE} must be 'plain', 'tuned' or 'auto', got {choice!r}")
    if choice in ("plain", "tuned"):
        return choice == "tuned"
    return jax.default_backend() == "cpu"


def Conv(features: int, kernel_size, *, padding="SAME", use_bias: bool = True, name=None):
    """Stride-1 ``nn.Conv``; on the CPU its forward and input gradient run on oneDNN."""
    conv = nn.Conv if not tuned() else onednn.Conv
    return conv(features, kernel_size, padding=padding, use_bias=use_bias, name=name)


def StridedConv(features: int, kernel_size, *, padding="SAME", use_bias: bool = True, name=None):
    """Stride-2 ``nn.Conv``; on the CPU a stride-1 conv of the space-to-depth input."""
    if tuned():
        return strided.Stride2Conv(features, kernel_size, padding, use_bias, name=name)
    return nn.Conv(features, kernel_size, 2, padding=padding, use_bias=use_bias, name=name)


def conv_transpose_stride2(x: Array, kernel: Array) -> Array:
    """PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2, output_padding=1)``, ``[N, H, W, Cin]
    -> [N, 2H, 2W, Cout]`` with ``kernel [k, k, Cin, Cout]`` (odd k), in its zero-dilated
    form: a conv of the 2x-dilated input with the flipped kernel."""
    k = kernel.shape[0]
    p = (k - 1) // 2
    pads = [(k - 1 - p, k - p)] * 2  # output_padding 1 lands at the end
    flipped = jnp.flip(kernel, (0, 1))
    return jax.lax.conv_general_dilated(x, flipped, (1, 1), pads, (2, 2), dimension_numbers=_DN)


class _PlainUpConv(nn.Module):
    """``UpConv``'s plain form; the parameters of ``platform.strided.Stride2ConvTranspose``."""

    features: int
    kernel_size: tuple[int, int] = (5, 5)
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        y = conv_transpose_stride2(x, kernel.astype(x.dtype))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y


def UpConv(features: int, kernel_size=(5, 5), *, use_bias: bool = True, name=None):
    """Stride-2 transposed conv, PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2,
    output_padding=1)`` (``[N, H, W, Cin] -> [N, 2H, 2W, features]``); on the CPU four
    stride-1 convs, one per output phase."""
    layer = strided.Stride2ConvTranspose if tuned() else _PlainUpConv
    return layer(features, tuple(kernel_size), use_bias, name=name)


def NormGate(use_running_average: bool, *, momentum: float = 0.9, epsilon=1e-5, name=None):
    """A layer ``[..., 2C] -> [..., C]``: BatchNorm over the ``2C`` channels, then
    ``h * sigmoid(g)``; its variables are those of an ``nn.BatchNorm`` named ``name``.
    On the CPU one module with a hand-written gradient."""
    if tuned():
        return batchnorm_gate.BatchNormGate(use_running_average, momentum, epsilon, name=name)
    bn = nn.BatchNorm(use_running_average, momentum=momentum, epsilon=epsilon, name=name)
    return lambda y: gate(bn(y))


def elu(x: Array) -> Array:
    """ELU; on the CPU with its derivative taken from the output."""
    return derivatives.elu(x) if tuned() else jax.nn.elu(x)


def tile(c: Array, n: int) -> Array:
    """``[...] -> [n, ...]``, ``c`` repeated ``n`` times (its gradient a matmul on the CPU)."""
    return derivatives.tile_items(c, n) if tuned() else jnp.broadcast_to(c, (n, *c.shape))


def describe() -> str:
    """``"tuned (cpu)"`` or ``"plain (gpu)"``: which forms the layers take, for logs."""
    return f"{'tuned' if tuned() else 'plain'} ({jax.default_backend()})"
