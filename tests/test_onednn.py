"""ocg_jax.platform.onednn: oneDNN convs through XLA:CPU's custom call, checked against lax."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ocg_jax.platform import onednn
from ocg_jax.train.sharding import batch_sharding, make_mesh

DN = ("NHWC", "HWIO", "NHWC")


def _loss(conv, x, w, padding, **kw):
    return jnp.sum(jnp.sin(conv(x, w, (1, 1), padding, dimension_numbers=DN, **kw)))


def _value_and_grads(conv, x, w, padding, **kw):
    fn = jax.value_and_grad(functools.partial(_loss, conv, padding=padding, **kw), (0, 1))
    return jax.jit(fn)(x, w)


def _custom_calls(fn, *args) -> int:
    return jax.jit(fn).lower(*args).compile().as_text().count("__onednn$convolution")


def _random(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _as_accurate_as_lax(fn, *args):
    """``fn(conv, *args)`` with oneDNN's conv is as close to float64 as with XLA's own float32
    conv: per array, its largest error is at most 4x lax's, plus 1e-4 of the array's scale.
    A fixed tolerance cannot be right for both: the sums here cancel to values far smaller
    than their terms, so float32's error follows the terms (seen: 7e-4 on a value of 20),
    and it differs with the machine's summation order; where lax's order happens to be lucky
    (1.5e-4 against oneDNN's 7e-4 on that value, on one AMD box), the floor holds.  A layout
    or indexing bug errs by the values' own size."""
    got = fn(onednn.conv_general_dilated, *args)
    lax_f32 = fn(jax.lax.conv_general_dilated, *args)
    with jax.enable_x64():
        ref = fn(jax.lax.conv_general_dilated, *(np.asarray(a, np.float64) for a in args))
    for g, f, r in zip(*map(jax.tree.leaves, (got, lax_f32, ref)), strict=True):
        r = np.asarray(r)
        lax_err = np.abs(np.asarray(f) - r).max()
        np.testing.assert_allclose(g, r, rtol=0, atol=4 * lax_err + 1e-4 * np.abs(r).max())


def test_available_on_this_cpu():
    # jaxlib 0.10's XLA:CPU runs the call with our encoding; a jaxlib that changes
    # either fails here (and the library quietly uses lax), the point to re-check it
    assert onednn.available()


@pytest.mark.parametrize(
    "padding, kernel",
    [
        ("SAME", (5, 5)),
        ("SAME", (2, 3)),  # even: the extra pad at the end
        ("VALID", (3, 3)),
        (((2, 1), (0, 2)), (3, 3)),
        (((2, 1), (0, 2)), (1, 1)),  # pads of the kernel's size: lax
        ("VALID", (1, 1)),  # the weight gradient is a matmul, not XLA's conv
    ],
)
def test_matches_lax_values_and_gradients(padding, kernel):
    x, w = _random((3, 9, 8, 4), 0), _random((*kernel, 4, 6), 1)
    _as_accurate_as_lax(lambda conv, x, w: _value_and_grads(conv, x, w, padding), x, w)
    # forward and input gradient are oneDNN calls, the weight gradient is XLA's; pads of
    # a kernel's size or more have no mirrored input-gradient pads and stay on lax
    pads = onednn._explicit_pads(padding, w.shape)
    mirrored = all(p < k for pair, k in zip(pads, kernel, strict=True) for p in pair)
    loss = functools.partial(_loss, onednn.conv_general_dilated, padding=padding)
    assert _custom_calls(jax.grad(loss, 1), x, w) == (1 if mirrored else 0)
    assert _custom_calls(jax.grad(loss, (0, 1)), x, w) == (2 if mirrored else 0)
    hlo = jax.jit(jax.grad(loss, 1)).lower(x, w).compile().as_text()
    assert (" convolution(" in hlo) == (not mirrored or kernel != (1, 1))


@pytest.mark.parametrize(
    "kw",
    [
        dict(window_strides=(2, 2)),
        dict(rhs_dilation=(2, 1)),
        dict(lhs_dilation=(2, 2), padding=((1, 1), (1, 1))),
        dict(dimension_numbers=("NCHW", "OIHW", "NCHW")),  # all four dims of size 4
        dict(padding=((4, 0), (0, 0))),  # a pad the input gradient cannot mirror
    ],
)
def test_other_convs_fall_back_to_lax(kw):
    x, w = _random((2, 4, 4, 4), 0), _random((4, 4, 4, 4), 1)
    args = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=DN) | kw

    def fn(conv):
        return lambda x, w: conv(x, w, **args)

    assert _custom_calls(fn(onednn.conv_general_dilated), x, w) == 0
    np.testing.assert_allclose(
        jax.jit(fn(onednn.conv_general_dilated))(x, w),
        jax.jit(fn(jax.lax.conv_general_dilated))(x, w),
        rtol=1e-6,
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kernel", [(3, 5), (1, 1)])  # 1x1: the weight gradient is a matmul
def test_forward_mode_and_second_order_match_lax(kernel, seed):
    x, w = _random((2, 9, 8, 4), seed), _random((*kernel, 4, 6), seed + 10)

    def derivatives(conv, x, w):
        f = functools.partial(_loss, conv, padding="SAME")
        hessian_vector = jax.grad(lambda x, w: jnp.sum(jax.grad(f, (0, 1))(x, w)[0] ** 2), (0, 1))
        return jax.jit(lambda x, w: (jax.jvp(f, (x, w), (x, w)), hessian_vector(x, w)))(x, w)

    _as_accurate_as_lax(derivatives, x, w)


def test_vmap_over_inputs_and_kernels():
    x, w = _random((2, 3, 8, 8, 4), 0), _random((2, 3, 3, 4, 5), 1)
    conv = functools.partial(onednn.conv2d, pads=((1, 1), (1, 1)))
    ref = functools.partial(
        jax.lax.conv_general_dilated,
        window_strides=(1, 1),
        padding=((1, 1), (1, 1)),
        dimension_numbers=DN,
    )
    np.testing.assert_allclose(
        jax.vmap(conv, (0, None))(x, w[0]), jax.vmap(ref, (0, None))(x, w[0]), atol=1e-4
    )
    np.testing.assert_allclose(jax.vmap(conv)(x, w), jax.vmap(ref)(x, w), atol=1e-4)


def test_partitioned_runs_keep_xla_conv():
    # sharded over the two test devices, XLA would gather a custom call's operands
    mesh = make_mesh()
    assert mesh.size == 2
    x = jax.device_put(_random((4, 8, 8, 4), 0), batch_sharding(mesh))
    w = _random((3, 3, 4, 5), 1)
    fn = functools.partial(_loss, onednn.conv_general_dilated, padding="SAME")
    assert _custom_calls(jax.grad(fn, (0, 1)), x, w) == 0
    assert _custom_calls(jax.grad(fn, (0, 1)), np.asarray(x), w) == 2


def test_conv_layer_has_nn_conv_parameters():
    x = _random((2, 8, 8, 3), 0)
    ours = onednn.Conv(5, (3, 3)).init(jax.random.PRNGKey(0), x)
    flax = nn.Conv(5, (3, 3)).init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, flax)
    np.testing.assert_allclose(
        onednn.Conv(5, (3, 3)).apply(flax, x), nn.Conv(5, (3, 3)).apply(flax, x), atol=1e-5
    )


def test_opt_out(monkeypatch):
    monkeypatch.setenv(onednn.OPT_OUT, "1")
    assert not onednn.available.__wrapped__()
