"""Stride-1 2-D convolutions on oneDNN's kernels, through XLA:CPU's own oneDNN call.

jaxlib's XLA:CPU links oneDNN and runs an HLO custom call ``__onednn$convolution``
(its backend config an ``OneDnnConvolutionConfig``) on oneDNN's JIT kernels, but
no pass in the public jaxlib emits that call.  On our x86 machine oneDNN's
forward conv is 1.25-1.3x faster than XLA's Eigen conv (docs/performance.md),
so ``conv_general_dilated`` below emits the call itself for the forward and the
input gradient (a forward conv of the output gradient with the flipped kernel).
The weight gradient stays on XLA's conv: as a forward conv it would have a
feature-map-sized kernel, which oneDNN does not run fast.

The call and its config encoding are XLA internals, not API: ``available()``
checks them once per process against ``lax`` on a small conv with uneven
padding, and any failure (or another backend, or ``OCG_JAX_NO_ONEDNN=1``) falls
back to ``lax.conv_general_dilated``.  It is a drop-in for that function, for
``nn.Conv(conv_general_dilated=...)``.
"""

import functools
import json
import os
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import ShapedArray
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

Array = jax.Array
OPT_OUT = "OCG_JAX_NO_ONEDNN"
_TARGET = "__onednn$convolution"
_DN = ("NHWC", "HWIO", "NHWC")


def _lax_conv(x, w, *, pads, swap_io):
    w = w.swapaxes(2, 3) if swap_io else w
    return lax.conv_general_dilated(x, w, (1, 1), pads, dimension_numbers=_DN)


def _out_shape(x_shape, w_shape, pads, swap_io):
    n, h, w, _ = x_shape
    (top, bottom), (left, right) = pads
    return (
        n,
        h + top + bottom - w_shape[0] + 1,
        w + left + right - w_shape[1] + 1,
        w_shape[2 if swap_io else 3],
    )


def _abstract_eval(x, w, *, pads, swap_io):
    return ShapedArray(_out_shape(x.shape, w.shape, pads, swap_io), x.dtype)


def _impl(x, w, *, pads, swap_io):
    return jax.jit(functools.partial(_conv_p.bind, pads=pads, swap_io=swap_io))(x, w)


def _batch(args, dims, *, pads, swap_io):
    (x, w), (bx, bw) = args, dims
    if bw is not None:  # a batch of kernels: lax per item
        fn = functools.partial(_lax_conv, pads=pads, swap_io=swap_io)
        return jax.vmap(fn, in_axes=(bx, bw))(x, w), 0
    x = jnp.moveaxis(x, bx, 0)
    y = _conv_p.bind(x.reshape(-1, *x.shape[2:]), w, pads=pads, swap_io=swap_io)
    return y.reshape(x.shape[0], x.shape[1], *y.shape[1:]), 0


# x [N, H, W, Cin], w [kh, kw, Cin, Cout] (or [kh, kw, Cout, Cin] with swap_io) -> y
_conv_p = Primitive("ocg_onednn_conv")
_conv_p.def_impl(_impl)
_conv_p.def_abstract_eval(_abstract_eval)
batching.primitive_batchers[_conv_p] = _batch


def _config(w_shape, pads, swap_io) -> str:
    """``BackendConfig`` JSON: NHWC data, HWIO kernel (HWOI with ``swap_io``), stride 1.

    Encoding as jaxlib 0.10's oneDNN runtime reads it (found by probing, checked by
    ``available()``): 0-based dims; pads, strides and dilations as in HLO."""
    data = {"batch_dim": 0, "feature_dim": 3, "spatial_dims": [1, 2]}
    filt = {"input_feature_dim": 3 if swap_io else 2, "output_feature_dim": 2 if swap_io else 3}
    return json.dumps(
        {
            "onednn_conv_config": {
                "dims": 4,
                "input": {"dims": 4, "data": data},
                "kernel": {"dims": 4, "filter": {**filt, "spatial_dims": [0, 1]}},
                "output": {"dims": 4, "data": data},
                "window": {
                    "size": list(w_shape[:2]),
                    "pad_left": [pads[0][0], pads[1][0]],
                    "pad_right": [pads[0][1], pads[1][1]],
                    "strides": [1, 1],
                    "window_dilations": [1, 1],
                },
                "feature_groups": 1,
            }
        }
    )


def _partitioned(ctx) -> bool:
    """Whether XLA will partition this computation over several devices: it would gather
    a custom call's operands onto every device, so those runs keep XLA's conv."""
    axes = ctx.module_context.axis_context
    devices = getattr(axes, "num_devices", None)
    if devices is None and hasattr(axes, "mesh"):  # inside shard_map: the automatic axes
        manual = getattr(axes, "manual_axes", ())
        devices = axes.mesh.size // int(np.prod([axes.mesh.shape[a] for a in manual]))
    return (devices or 1) > 1


_lower_lax = mlir.lower_fun(_lax_conv, multiple_results=False)


def _lower_onednn(ctx, x, w, *, pads, swap_io):
    if _partitioned(ctx):
        return _lower_lax(ctx, x, w, pads=pads, swap_io=swap_io)
    from jax._src.interpreters.mlir import custom_call  # private, as is the call itself

    out = mlir.aval_to_ir_type(ctx.module_context, ctx.avals_out[0])
    call = custom_call(
        _TARGET,
        result_types=[out],
        operands=[x, w],
        backend_config=_config(ctx.avals_in[1].shape, pads, swap_io),
        api_version=1,
    )
    return call.results


mlir.register_lowering(_conv_p, _lower_lax)
mlir.register_lowering(_conv_p, _lower_onednn, platform="cpu")


@functools.cache
def available() -> bool:
    """Whether this process's CPU backend runs ``__onednn$convolution`` with our encoding
    and matches ``lax`` (a 3x5 kernel with uneven padding, also with in/out swapped)."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return False
    try:
        cpu = jax.devices("cpu")[0]
        rng = np.random.default_rng(0)
        w = rng.normal(size=(3, 5, 3, 4)).astype(np.float32)
        pads = ((1, 2), (0, 3))
        with jax.ensure_compile_time_eval():
            for swap_io, cin in ((False, 3), (True, 4)):
                x = rng.normal(size=(2, 7, 6, cin)).astype(np.float32)
                arr, ker = jax.device_put((x, w), cpu)
                fn = functools.partial(_conv_p.bind, pads=pads, swap_io=swap_io)
                got = np.asarray(jax.jit(fn)(arr, ker))
                want = np.asarray(_lax_conv(arr, ker, pads=pads, swap_io=swap_io))
                if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                    return False
        return True
    except Exception:  # noqa: BLE001 - any failure means: use lax
        return False


def conv2d(x: Array, w: Array, pads: tuple[tuple[int, int], tuple[int, int]]) -> Array:
    """``x [N, H, W, Cin]``, ``w [kh, kw, Cin, Cout]`` -> ``[N, H', W', Cout]``; stride 1,
    explicit ``pads`` ``((top, bottom), (left, right))``; oneDNN forward and input
    gradient on XLA:CPU, ``lax`` elsewhere.  Differentiable to any order."""
    return _conv_p.bind(x, w, pads=tuple(map(tuple, pads)), swap_io=False)


def _transpose_x(ct, x, w, *, pads, swap_io):
    """The input gradient: the conv of ``ct`` with the spatially flipped kernel, its
    in/out features swapped back (``swap_io`` toggled), and mirrored pads."""
    grad_pads = tuple(
        (k - 1 - lo, k - 1 - hi) for (lo, hi), k in zip(pads, w.shape[:2], strict=True)
    )
    return _conv_p.bind(ct, jnp.flip(w, (0, 1)), pads=grad_pads, swap_io=not swap_io)


def _transpose_w(ct, x, w, *, pads, swap_io):
    """The weight gradient, on XLA's conv (see the module docstring); for an unpadded 1x1
    kernel a matmul over the pixels, which XLA runs 3-4x faster than its conv with the
    transposes it needs (GENESIS's 1x1 output layers: 93 -> 24 ms, 60 -> 16 ms)."""
    if w.aval.shape[:2] == (1, 1) and pads == ((0, 0), (0, 0)):
        x2, ct2 = x.reshape(-1, x.shape[-1]), ct.reshape(-1, ct.shape[-1])
        dw = jax.lax.dot_general(ct2, x2, (((0,), (0,)), ((), ())))  # [Cout, Cin]
        return (dw if swap_io else dw.T)[None, None]
    shape = jax.ShapeDtypeStruct(w.aval.shape, w.aval.dtype)
    (dw,) = jax.linear_transpose(lambda w: _lax_conv(x, w, pads=pads, swap_io=swap_io), shape)(ct)
    return dw


ad.defbilinear(_conv_p, _transpose_x, _transpose_w)


def _explicit_pads(padding, k_shape) -> tuple[tuple[int, int], ...] | None:
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return ((0, 0), (0, 0))
        if padding.upper() == "SAME":  # stride 1: total k - 1, the extra one at the end
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in k_shape[:2])
        return None
    pads = tuple(tuple(int(v) for v in p) for p in padding)
    return pads if len(pads) == 2 else None


def conv_general_dilated(
    lhs: Array,
    rhs: Array,
    window_strides: Sequence[int],
    padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
) -> Array:
    """``lax.conv_general_dilated`` with the same arguments; 2-D float32 NHWC/HWIO convs
    with stride 1, no dilation or groups and pads the input gradient can mirror run on
    ``conv2d`` when ``available()``."""
    kwargs = dict(
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    pads = _explicit_pads(padding, rhs.shape) if lhs.ndim == rhs.ndim == 4 else None
    ones = (None, (1, 1), [1, 1])
    simple = (
        pads is not None
        and tuple(window_strides) == (1, 1)
        and lhs_dilation in ones
        and rhs_dilation in ones
        and feature_group_count == batch_group_count == 1
        and preferred_element_type is None
        and lhs.dtype == rhs.dtype == jnp.float32
        and _is_nhwc(dimension_numbers)
        and all(0 <= p < k for pair, k in zip(pads, rhs.shape[:2], strict=True) for p in pair)
    )
    if simple and available():
        return conv2d(lhs, rhs, pads)
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kwargs)


def _is_nhwc(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False  # lax's default is NCHW
    dn = lax.conv_dimension_numbers((1,) * 4, (1,) * 4, dimension_numbers)
    want = lax.conv_dimension_numbers((1,) * 4, (1,) * 4, _DN)
    return dn == want


# ``nn.Conv`` with the same parameters and names, on ``conv_general_dilated`` above
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
