"""Stride-2 convolution and transposed convolution as stride-1 convolutions.

``conv_stride2``: a stride-1 convolution on the space-to-depth input.

XLA:CPU computes the input gradient of a stride-2 conv as a conv over the
2x zero-dilated gradient, which wastes 3/4 of its work (the mask encoder's 5x5
layer spent 300 ms of the GENESIS step there).  Folding each 2x2 block of
pixels into channels turns a ``k x k`` stride-2 conv into a ``ceil(k/2)``-tap
stride-1 conv on ``4 Cin`` channels, whose forward, input gradient and weight
gradient are all plain convs (at ``(2 ceil(k/2) / k)^2`` of the direct FLOPs:
1.44x for k = 5, 1.78x for k = 3).

``conv_transpose_stride2``: the stride-2 transposed conv (PyTorch's
``ConvTranspose2d(k, 2, (k - 1) // 2, output_padding=1)``) as four stride-1
convs, one per output phase, each with only the taps that reach that phase
(3x3, 3x2, 2x3 and 2x2 for k = 5), interleaved by depth-to-space.  That is
exactly the direct FLOPs; the zero-dilated form XLA would run costs 4x.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ocg_jax.platform.onednn import conv_general_dilated

Array = jax.Array
_DN = ("NHWC", "HWIO", "NHWC")


def _same_pads(size: int, k: int) -> tuple[int, int]:
    """XLA's SAME padding for stride 2: ``(lo, hi)``."""
    total = max((-(-size // 2) - 1) * 2 + k - size, 0)
    return total // 2, total - total // 2


def _space_to_depth_pad(x: Array, axis: int, lo: int, out: int, taps: int) -> Array:
    """Pad (or crop) ``axis`` to ``2 (out + taps - 1)`` entries with ``lo`` zeros in front."""
    length = 2 * (out + taps - 1)
    pads = [(0, 0)] * x.ndim
    pads[axis] = (lo, max(length - x.shape[axis] - lo, 0))
    x = jnp.pad(x, pads)
    return jax.lax.slice_in_dim(x, 0, length, axis=axis)


def conv_stride2(x: Array, kernel: Array, padding: str | Sequence[tuple[int, int]]) -> Array:
    """``x [N, H, W, Cin]``, ``kernel [k, k, Cin, Cout]`` -> ``[N, H', W', Cout]``.

    Equals ``lax.conv_general_dilated(x, kernel, (2, 2), padding)`` for ``padding`` =
    ``"SAME"``, ``"VALID"`` or ``((lo, hi), (lo, hi))``.
    """
    n, h, w, cin = x.shape
    kh, kw, _, cout = kernel.shape
    if padding == "SAME":
        pads = (_same_pads(h, kh), _same_pads(w, kw))
    elif padding == "VALID":
        pads = ((0, 0), (0, 0))
    else:
        pads = tuple(tuple(p) for p in padding)
    sizes = zip((h, w), pads, (kh, kw), strict=True)
    outs = [(size + lo + hi - k) // 2 + 1 for size, (lo, hi), k in sizes]
    taps = [-(-kh // 2), -(-kw // 2)]
    # input: [N, 2(Ho+th-1), 2(Wo+tw-1), Cin] -> [N, Ho+th-1, Wo+tw-1, (dy, dx, Cin)]
    xp = _space_to_depth_pad(x, 1, pads[0][0], outs[0], taps[0])
    xp = _space_to_depth_pad(xp, 2, pads[1][0], outs[1], taps[1])
    hs, ws = xp.shape[1] // 2, xp.shape[2] // 2
    xs = xp.reshape(n, hs, 2, ws, 2, cin).transpose(0, 1, 3, 2, 4, 5).reshape(n, hs, ws, 4 * cin)
    # kernel: zero taps up to 2 * taps; [th, 2, tw, 2, Cin, Cout] -> [th, tw, (2, 2, Cin), Cout]
    kp = jnp.pad(kernel, [(0, 2 * taps[0] - kh), (0, 2 * taps[1] - kw), (0, 0), (0, 0)])
    kp = kp.reshape(taps[0], 2, taps[1], 2, cin, cout).transpose(0, 2, 1, 3, 4, 5)
    kp = kp.reshape(taps[0], taps[1], 4 * cin, cout)
    return conv_general_dilated(xs, kp, (1, 1), "VALID", dimension_numbers=_DN)


def _phase_taps(k: int, phase: int) -> tuple[int, tuple[int, int]]:
    """For output phase ``phase`` of a stride-2 transposed conv with padding ``(k - 1) // 2``:
    the largest kernel tap reaching it (the others are every second tap below it) and the
    pads ``(lo, hi)`` of the stride-1 conv over them."""
    p = (k - 1) // 2
    # output 2m + phase takes x[m + off] * w[t] for t = phase + p - 2 off, 0 <= t < k
    first = k - 1 - (k - 1 - phase - p) % 2
    last = (phase + p) % 2
    return first, ((first - phase - p) // 2, (phase + p - last) // 2)


def conv_transpose_stride2(x: Array, kernel: Array) -> Array:
    """``x [N, H, W, Cin]``, ``kernel [k, k, Cin, Cout]`` (odd ``k``) -> ``[N, 2H, 2W, Cout]``.

    PyTorch's ``ConvTranspose2d(Cin, Cout, k, stride=2, padding=(k - 1) // 2,
    output_padding=1)`` with its weight ``[Cin, Cout, k, k]`` stored as
    ``kernel = weight.permute(2, 3, 0, 1)``.
    """
    kh, kw = kernel.shape[:2]
    if kh % 2 == 0 or kw % 2 == 0 or min(kh, kw) < 3:  # 1x1: phase 1 would get no taps
        raise ValueError(f"conv_transpose_stride2 needs an odd kernel of 3 or more, got {kh}x{kw}")
    phases = []
    for a in (0, 1):
        row, row_pads = _phase_taps(kh, a)
        for b in (0, 1):
            col, col_pads = _phase_taps(kw, b)
            k = kernel[row::-2, col::-2]  # every second tap, in input-offset order
            pads = (row_pads, col_pads)
            phases.append(conv_general_dilated(x, k, (1, 1), pads, dimension_numbers=_DN))
    n, h, w, c = phases[0].shape
    # [N, H, W, (a, b), C] -> [N, H, a, W, b, C]: output pixel (2m + a, 2n + b)
    y = jnp.stack(phases, 3).reshape(n, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, c)
