"""The layers models ask for: plain Flax/JAX, or their CPU-tuned forms on the CPU.

    from ocg_jax.nn import layers
    y = layers.Conv(32, (5, 5))(x)               # stride 1
    y = layers.StridedConv(32, (5, 5))(x)        # stride 2, SAME
    y = layers.UpConv(32, (5, 5))(x)             # PyTorch's ConvTranspose2d(5, 2, 2, 1)
    h = layers.NormGate(not train)(y)            # BatchNorm, then h * sigmoid(g)

Each factory returns the tuned form from ``ocg_jax.platform`` when the layers are
traced for the CPU (``tuned()``), else the plain form.  Inside ``computing_in(dtype)``
(mixed precision: the families enter it for ``compute_dtype="bfloat16"``) convs and
dense layers compute in ``dtype`` from float32 parameters; normalisation statistics
stay float32, and the blocks of ``ocg_jax.nn`` return float32.  Both compute the same
function with the same parameters (names and shapes), so checkpoints move between
backends.  GPU and TPU compilers fuse and pick kernels themselves; the CPU forms
exist because XLA:CPU did not (``docs/performance.md``).  ``OCG_JAX_LAYERS=plain``
or ``=tuned`` overrides the choice (read when a model is traced).
"""

import contextlib
import os
import threading

import flax.linen as nn
import jax
import jax.numpy as jnp

from ocg_jax.platform import batchnorm_gate, derivatives, onednn, strided

Array = jax.Array
OVERRIDE = "OCG_JAX_LAYERS"
_DN = ("NHWC", "HWIO", "NHWC")

gate = batchnorm_gate.gate  # [..., 2C] -> [..., C]: h * sigmoid(g)
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
_LOCAL = threading.local()


@contextlib.contextmanager
def computing_in(dtype: str):
    """Layers built (traced) inside compute in ``dtype`` (``"float32"`` or ``"bfloat16"``)."""
    if dtype not in DTYPES:
        raise ValueError(f"compute_dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    previous = compute_dtype()
    _LOCAL.dtype = DTYPES[dtype]
    try:
        yield
    finally:
        _LOCAL.dtype = previous


def compute_dtype():
    """The dtype layers compute in here (float32 outside ``computing_in``)."""
    return getattr(_LOCAL, "dtype", jnp.float32)


def to_float32(x: Array) -> Array:
    """A block's output in float32 (losses and recurrences stay float32)."""
    return x.astype(jnp.float32)


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
    dt = compute_dtype()
    return conv(features, kernel_size, padding=padding, use_bias=use_bias, dtype=dt, name=name)


def Dense(features: int, *, use_bias: bool = True, name=None):
    """``nn.Dense`` computing in ``compute_dtype()``."""
    return nn.Dense(features, use_bias=use_bias, dtype=compute_dtype(), name=name)


def StridedConv(features: int, kernel_size, *, padding="SAME", use_bias: bool = True, name=None):
    """Stride-2 ``nn.Conv``; on the CPU a stride-1 conv of the space-to-depth input."""
    dt = compute_dtype()
    if tuned():
        return strided.Stride2Conv(features, kernel_size, padding, use_bias, dt, name=name)
    return nn.Conv(
        features, kernel_size, 2, padding=padding, use_bias=use_bias, dtype=dt, name=name
    )


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
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        y = conv_transpose_stride2(x.astype(self.dtype), kernel.astype(self.dtype))
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
            y = y + bias.astype(self.dtype)
        return y


#: ``conv_transpose_4x4_stride2``: (output phase, input offset) -> kernel tap
_TAPS_4X4 = {(0, -1): 3, (0, 0): 1, (1, 0): 2, (1, 1): 0}


def conv_transpose_4x4_stride2(x: Array, kernel: Array) -> Array:
    """PyTorch's ``ConvTranspose2d(4, stride=2, padding=1)``, ``[N, H, W, Cin] -> [N, 2H, 2W,
    Cout]`` with ``kernel [4, 4, Cin, Cout]``, as one stride-1 3x3 conv giving the four
    output phases (sub-pixel form) and a depth-to-space: no zero-dilated input, which
    XLA:CPU ran 4x slower."""
    n, h, w, cin = x.shape
    cout = kernel.shape[-1]
    k = jnp.zeros((3, 3, cin, 2, 2, cout), kernel.dtype)
    for (a, dy), ty in _TAPS_4X4.items():
        for (b, dx), tx in _TAPS_4X4.items():
            k = k.at[dy + 1, dx + 1, :, a, b, :].set(kernel[ty, tx])
    y = jax.lax.conv_general_dilated(
        x, k.reshape(3, 3, cin, 4 * cout), (1, 1), [(1, 1), (1, 1)], dimension_numbers=_DN
    )
    y = y.reshape(n, h, w, 2, 2, cout).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, cout)


class UpConv4(nn.Module):
    """``conv_transpose_4x4_stride2`` with a bias: the DCGAN-style decoders' upsampling."""

    features: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (4, 4, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        dt = compute_dtype()
        return conv_transpose_4x4_stride2(x.astype(dt), kernel.astype(dt)) + bias.astype(dt)


def UpConv(features: int, kernel_size=(5, 5), *, use_bias: bool = True, name=None):
    """Stride-2 transposed conv, PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2,
    output_padding=1)`` (``[N, H, W, Cin] -> [N, 2H, 2W, features]``); on the CPU four
    stride-1 convs, one per output phase."""
    layer = strided.Stride2ConvTranspose if tuned() else _PlainUpConv
    return layer(features, tuple(kernel_size), use_bias, compute_dtype(), name=name)


def NormGate(use_running_average: bool, *, momentum: float = 0.9, epsilon=1e-5, name=None):
    """A layer ``[..., 2C] -> [..., C]``: BatchNorm over the ``2C`` channels, then
    ``h * sigmoid(g)``; its variables are those of an ``nn.BatchNorm`` named ``name``.
    On the CPU one module with a hand-written gradient.  Statistics in float32; the
    output in ``compute_dtype()``."""
    if tuned():
        layer = batchnorm_gate.BatchNormGate(use_running_average, momentum, epsilon, name=name)
    else:
        bn = nn.BatchNorm(use_running_average, momentum=momentum, epsilon=epsilon, name=name)
        layer = lambda y: gate(bn(y))  # noqa: E731
    dt = compute_dtype()
    if dt == jnp.float32:
        return layer
    return lambda y: layer(y.astype(jnp.float32)).astype(dt)


def elu(x: Array) -> Array:
    """ELU; on the CPU with its derivative taken from the output."""
    return derivatives.elu(x) if tuned() else jax.nn.elu(x)


def tile(c: Array, n: int) -> Array:
    """``[...] -> [n, ...]``, ``c`` repeated ``n`` times (its gradient a matmul on the CPU)."""
    return derivatives.tile_items(c, n) if tuned() else jnp.broadcast_to(c, (n, *c.shape))
