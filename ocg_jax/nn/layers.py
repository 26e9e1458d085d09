"""The layers models ask for: plain Flax/JAX, or their CPU-tuned forms on the CPU.

    from ocg_jax.nn import layers
    y = layers.Conv(32, (5, 5))(x)               # stride 1
    y = layers.StridedConv(32, (5, 5))(x)        # stride 2, SAME
    y = layers.UpConv(32, (5, 5))(x)             # PyTorch's ConvTranspose2d(5, 2, 2, 1)
    h = layers.NormGate(not train)(y)            # BatchNorm, then h * sigmoid(g)

Each layer computes its tuned form from ``ocg_jax.platform`` in a program lowered for the
CPU and its plain form for any other platform: the choice is made at lowering
(``jax.lax.platform_dependent``; the oneDNN conv by its per-platform lowering rule), not
by the backend of the process that traces, so a program exported for a GPU from a CPU
host holds no CPU-only call.  Inside ``computing_in(dtype)`` (mixed precision: the
families enter it for ``compute_dtype="bfloat16"``) convs and dense layers compute in
``dtype`` from float32 parameters; normalisation statistics stay float32, and the blocks
of ``ocg_jax.nn`` return float32.  Both forms compute the same function with the same
parameters (names and shapes), so checkpoints move between backends.  GPU and TPU
compilers fuse and pick kernels themselves; the CPU forms exist because XLA:CPU did not
(``docs/performance.md``).  ``OCG_JAX_LAYERS=plain`` or ``=tuned`` traces one form only
(read when a model is traced).
"""

import contextlib
import functools
import os
import threading

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


def channels(v: Array, ndim: int) -> Array:
    """A per-channel vector ``[C]`` shaped to broadcast over ``[..., C]`` of rank ``ndim``."""
    return v.reshape((1,) * (ndim - 1) + (-1,))


def to_float32(x: Array) -> Array:
    """A block's output in float32 (losses and recurrences stay float32)."""
    return x.astype(jnp.float32)


def choice() -> str:
    """``OCG_JAX_LAYERS``: ``"plain"`` or ``"tuned"`` (one form everywhere), else ``"auto"``."""
    value = os.environ.get(OVERRIDE, "").lower() or "auto"
    if value not in ("auto", "plain", "tuned"):
        raise ValueError(f"{OVERRIDE} must be 'plain', 'tuned' or 'auto', got {value!r}")
    return value


def by_platform(tuned_fn, plain_fn, *args):
    """``tuned_fn(*args)`` where the program is lowered for the CPU, ``plain_fn(*args)``
    elsewhere (unless ``OCG_JAX_LAYERS`` fixes one); both compute the same function."""
    which = choice()
    if which != "auto":
        return (tuned_fn if which == "tuned" else plain_fn)(*args)
    return jax.lax.platform_dependent(*args, cpu=tuned_fn, default=plain_fn)


def Conv(features: int, kernel_size, *, padding="SAME", use_bias: bool = True, name=None):
    """Stride-1 ``nn.Conv``; lowered for the CPU, its forward and input gradient run on
    oneDNN (``platform.onednn``: the call's own lowering rule picks lax elsewhere)."""
    conv = nn.Conv if choice() == "plain" else onednn.Conv
    dt = compute_dtype()
    return conv(features, kernel_size, padding=padding, use_bias=use_bias, dtype=dt, name=name)


def Dense(features: int, *, use_bias: bool = True, name=None):
    """``nn.Dense`` computing in ``compute_dtype()``."""
    return nn.Dense(features, use_bias=use_bias, dtype=compute_dtype(), name=name)


def _plain_conv_stride2(x: Array, kernel: Array, padding) -> Array:
    return jax.lax.conv_general_dilated(x, kernel, (2, 2), padding, dimension_numbers=_DN)


class _KernelLayer(nn.Module):
    """A conv-like layer with ``nn.Conv``'s parameters (``kernel [k, k, Cin, features]``,
    ``bias``) whose function is ``by_platform(tuned, plain, x, kernel)``."""

    features: int
    kernel_size: tuple[int, int]
    tuned: object  # (x, kernel) -> y
    plain: object
    use_bias: bool = True
    dtype: object = jnp.float32  # computation dtype; parameters are float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape, jnp.float32)
        y = by_platform(self.tuned, self.plain, x.astype(self.dtype), kernel.astype(self.dtype))
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
            y = y + channels(bias.astype(self.dtype), y.ndim)
        return y


def StridedConv(features: int, kernel_size, *, padding="SAME", use_bias: bool = True, name=None):
    """Stride-2 ``nn.Conv`` (its parameters); for the CPU a stride-1 conv of the
    space-to-depth input (``platform.strided``)."""
    pad = padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)
    tuned = functools.partial(strided.conv_stride2, padding=pad)
    plain = functools.partial(_plain_conv_stride2, padding=pad)
    kernel = tuple(kernel_size)
    return _KernelLayer(features, kernel, tuned, plain, use_bias, compute_dtype(), name=name)


def conv_transpose_stride2(x: Array, kernel: Array) -> Array:
    """PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2, output_padding=1)``, ``[N, H, W, Cin]
    -> [N, 2H, 2W, Cout]`` with ``kernel [k, k, Cin, Cout]`` (odd k), in its zero-dilated
    form: a conv of the 2x-dilated input with the flipped kernel."""
    k = kernel.shape[0]
    p = (k - 1) // 2
    pads = [(k - 1 - p, k - p)] * 2  # output_padding 1 lands at the end
    flipped = jnp.flip(kernel, (0, 1))
    return jax.lax.conv_general_dilated(x, flipped, (1, 1), pads, (2, 2), dimension_numbers=_DN)


#: ``conv_transpose_4x4_stride2``: (output phase, input offset) -> kernel tap
_TAPS_4X4 = {(0, -1): 3, (0, 0): 1, (1, 0): 2, (1, 1): 0}


def conv_transpose_4x4_stride2(x: Array, kernel: Array) -> Array:
    """PyTorch's ``ConvTranspose2d(4, stride=2, padding=1)``, ``[N, H, W, Cin] -> [N, 2H, 2W,
    Cout]`` with ``kernel [4, 4, Cin, Cout]``, as one stride-1 3x3 conv giving the four
    output phases (sub-pixel form) and a depth-to-space: no zero-dilated input, which
    XLA:CPU ran 4x slower."""
    n, h, w, cin = x.shape
    cout = kernel.shape[-1]
    if h * w <= 4:  # a map of up to 4 pixels: XLA:CPU's conv ran 12x slower than one matmul
        return _conv_transpose_4x4_as_matmul(x, kernel)
    k = jnp.zeros((3, 3, cin, 2, 2, cout), kernel.dtype)
    for (a, dy), ty in _TAPS_4X4.items():
        for (b, dx), tx in _TAPS_4X4.items():
            k = k.at[dy + 1, dx + 1, :, a, b, :].set(kernel[ty, tx])
    y = jax.lax.conv_general_dilated(
        x, k.reshape(3, 3, cin, 4 * cout), (1, 1), [(1, 1), (1, 1)], dimension_numbers=_DN
    )
    y = y.reshape(n, h, w, 2, 2, cout).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, cout)


def _input_to_output_taps(m: int) -> np.ndarray:
    """``[m, 2m, 4]`` one-hot: input row ``i`` reaches output row ``o`` through tap
    ``o - 2i + 1`` (``ConvTranspose2d(4, 2, 1)``)."""
    taps = np.zeros((m, 2 * m, 4), np.float32)
    for i in range(m):
        for o in range(max(0, 2 * i - 1), min(2 * m, 2 * i + 3)):
            taps[i, o, o - 2 * i + 1] = 1
    return taps


def _conv_transpose_4x4_as_matmul(x: Array, kernel: Array) -> Array:
    """``conv_transpose_4x4_stride2`` of a tiny map as one ``[N, H W Cin] @ [H W Cin,
    4 H W Cout]`` matmul, the kernel spread over every input-output pixel pair."""
    n, h, w, cin = x.shape
    cout = kernel.shape[-1]
    ty, tx = (jnp.asarray(_input_to_output_taps(m), kernel.dtype) for m in (h, w))
    spread = jnp.einsum("aps,bqt,stcd->abcpqd", ty, tx, kernel)
    y = x.reshape(n, h * w * cin) @ spread.reshape(h * w * cin, 4 * h * w * cout)
    return y.reshape(n, 2 * h, 2 * w, cout)


class UpConv4(nn.Module):
    """``conv_transpose_4x4_stride2`` with a bias: the DCGAN-style decoders' upsampling."""

    features: int
    use_bias: bool = True
    kernel_init: object = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: Array) -> Array:
        shape = (4, 4, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        dt = compute_dtype()
        y = conv_transpose_4x4_stride2(x.astype(dt), kernel.astype(dt))
        if not self.use_bias:
            return y
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y + channels(bias.astype(dt), y.ndim)


def UpConv(features: int, kernel_size=(5, 5), *, use_bias: bool = True, name=None):
    """Stride-2 transposed conv, PyTorch's ``ConvTranspose2d(k, 2, (k - 1) // 2,
    output_padding=1)`` (``[N, H, W, Cin] -> [N, 2H, 2W, features]``); for the CPU four
    stride-1 convs, one per output phase."""
    return _KernelLayer(features, tuple(kernel_size), strided.conv_transpose_stride2,
                        conv_transpose_stride2, use_bias, compute_dtype(), name=name)  # fmt: skip


class _NormGate(nn.Module):
    """``[..., 2C] -> [..., C]``: ``nn.BatchNorm``'s variables (params ``scale``, ``bias``;
    batch_stats ``mean``, ``var``), then ``h * sigmoid(g)``; for the CPU with the
    hand-written gradient of ``platform.batchnorm_gate``."""

    use_running_average: bool
    momentum: float = 0.9
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, y: Array) -> Array:
        c = y.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, (c,), jnp.float32)
        if self.use_running_average:
            rstd = jax.lax.rsqrt(ra_var.value + self.epsilon)
            c = functools.partial(channels, ndim=y.ndim)
            return gate((y - c(ra_mean.value)) * c(rstd * scale) + c(bias))
        eps = self.epsilon
        tuned = lambda y, s, b: batchnorm_gate.batch_norm_gate(y, s, b, eps)  # noqa: E731
        plain = lambda y, s, b: batchnorm_gate.batch_norm_gate_plain(y, s, b, eps)  # noqa: E731
        out, mean, var = by_platform(tuned, plain, y, scale, bias)
        if not self.is_initializing():
            mom = self.momentum
            ra_mean.value = mom * ra_mean.value + (1 - mom) * jax.lax.stop_gradient(mean)
            ra_var.value = mom * ra_var.value + (1 - mom) * jax.lax.stop_gradient(var)
        return out


def NormGate(use_running_average: bool, *, momentum: float = 0.9, epsilon=1e-5, name=None):
    """A layer ``[..., 2C] -> [..., C]``: BatchNorm over the ``2C`` channels, then
    ``h * sigmoid(g)``; its variables are those of an ``nn.BatchNorm`` named ``name``.
    Statistics in float32; the output in ``compute_dtype()``."""
    layer = _NormGate(use_running_average, momentum, epsilon, name=name)
    dt = compute_dtype()
    if dt == jnp.float32:
        return layer
    return lambda y: layer(y.astype(jnp.float32)).astype(dt)


def elu(x: Array) -> Array:
    """ELU; for the CPU with its derivative taken from the output."""
    return by_platform(derivatives.elu, jax.nn.elu, x)


def tile(c: Array, n: int) -> Array:
    """``[...] -> [n, ...]``, ``c`` repeated ``n`` times (its gradient a matmul on the CPU)."""
    plain = lambda c: jnp.broadcast_to(c, (n, *c.shape))  # noqa: E731
    return by_platform(lambda c: derivatives.tile_items(c, n), plain, c)
