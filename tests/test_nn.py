"""Layers written for speed compute the same function as their plain forms."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ocg_jax.nn import layers
from ocg_jax.nn.broadcast import BroadcastDecoder, coord_grid
from ocg_jax.platform.batchnorm_gate import batch_norm_gate
from ocg_jax.platform.derivatives import elu, tile_items
from ocg_jax.platform.strided import conv_stride2, conv_transpose_stride2

DN = ("NHWC", "HWIO", "NHWC")


def test_tile_items_value_and_gradient_match_broadcast():
    c = jax.random.normal(jax.random.PRNGKey(0), (5, 4, 3))
    cot = jax.random.normal(jax.random.PRNGKey(1), (7, 5, 4, 3))
    np.testing.assert_array_equal(tile_items(c, 7), jnp.broadcast_to(c, (7, 5, 4, 3)))
    g = jax.grad(lambda c: jnp.sum(tile_items(c, 7) * cot))(c)
    np.testing.assert_allclose(g, cot.sum(0), rtol=1e-5, atol=1e-5)


def test_broadcast_decoder_equals_the_tiled_form():
    """Layer 1 as dense(z) + conv(coords) is the valid conv of the tiled [z, coords] map."""
    dec = BroadcastDecoder(image_size=8, out_channels=3, hidden=6, num_layers=3)
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 5))
    variables = dec.init(jax.random.PRNGKey(1), z)

    def plain(params, z):
        size = 8 + 2 * 3
        grid = jnp.broadcast_to(coord_grid(size, size), (z.shape[0], size, size, 2))
        x = jnp.concatenate([jnp.broadcast_to(z[:, None, None], (*grid.shape[:3], 5)), grid], -1)
        x = jax.lax.conv_general_dilated(
            x, params["conv0_kernel"], (1, 1), "VALID", dimension_numbers=DN
        )
        x = jax.nn.elu(x + params["conv0_bias"][None, None, None])
        for i in range(2):
            p = params[f"Conv_{i}"]
            x = jax.nn.elu(
                jax.lax.conv_general_dilated(x, p["kernel"], (1, 1), "VALID", dimension_numbers=DN)
                + p["bias"][None, None, None]
            )
        p = params["Conv_2"]
        return jnp.einsum("nhwc,co->nhwo", x, p["kernel"][0, 0]) + p["bias"][None, None, None]

    params = variables["params"]
    out = jax.jit(dec.apply)(variables, z)
    assert out.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(out, jax.jit(plain)(params, z), rtol=1e-4, atol=1e-5)
    cot = jax.random.normal(jax.random.PRNGKey(2), out.shape)
    g = jax.jit(jax.grad(lambda p, z: jnp.sum(dec.apply({"params": p}, z) * cot), (0, 1)))(
        params, z
    )
    g_ref = jax.jit(jax.grad(lambda p, z: jnp.sum(plain(p, z) * cot), (0, 1)))(params, z)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "size, k, padding",
    [(9, 5, "SAME"), (8, 3, ((1, 1), (1, 1))), (9, 3, "VALID"), (6, 4, "SAME")],
)
def test_stride2_conv_and_its_gradients_match_lax(size, k, padding):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size + 1, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 3, 4))

    def ref(x, w):
        return jax.lax.conv_general_dilated(x, w, (2, 2), padding, dimension_numbers=DN)

    y = jax.jit(conv_stride2, static_argnums=2)(x, w, padding)
    np.testing.assert_allclose(y, ref(x, w), rtol=1e-5, atol=1e-5)
    cot = jax.random.normal(jax.random.PRNGKey(2), ref(x, w).shape)
    g = jax.jit(jax.grad(lambda x, w: jnp.sum(conv_stride2(x, w, padding) * cot), (0, 1)))(x, w)
    g_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), (0, 1))(x, w)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_stride2_conv_layer_has_nn_conv_parameters():
    x = jnp.ones((1, 8, 8, 3))
    ours = layers.StridedConv(5, (3, 3)).init(jax.random.PRNGKey(0), x)
    flax_conv = jax.eval_shape(nn.Conv(5, (3, 3), (2, 2)).init, jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, ours) == jax.tree.map(lambda a: a.shape, flax_conv)
    y = layers.StridedConv(5, (3, 3)).apply(ours, x)
    np.testing.assert_allclose(y, nn.Conv(5, (3, 3), (2, 2)).apply(ours, x), rtol=1e-5, atol=1e-5)


def _torch_conv_transpose_stride2(x, w):
    """PyTorch's ConvTranspose2d(k, stride=2, padding=(k-1)//2, output_padding=1) by its
    definition: input pixel i scatters ``x[i] * w[t]`` to output ``2 i + t - padding``."""
    n, h, wd, _ = x.shape
    k, p = w.shape[0], (w.shape[0] - 1) // 2
    full = np.zeros((n, 2 * h + k + 1, 2 * wd + k + 1, w.shape[3]))
    for t in range(k):
        for u in range(k):
            full[:, t : t + 2 * h : 2, u : u + 2 * wd : 2] += np.einsum("nhwc,cd->nhwd", x, w[t, u])
    return full[:, p : p + 2 * h, p : p + 2 * wd]


@pytest.mark.parametrize("k", [3, 5])
def test_stride2_transposed_conv_is_pytorchs_and_its_gradients_match_lax(k):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 3, 4))
    y = jax.jit(conv_transpose_stride2)(x, w)
    assert y.shape == (2, 10, 12, 4)
    want = _torch_conv_transpose_stride2(np.asarray(x), np.asarray(w))
    np.testing.assert_allclose(y, want, atol=1e-4)

    def ref(x, w):  # the zero-dilated form
        p = (k - 1) // 2
        pads = [(k - 1 - p, k - p)] * 2
        w = jnp.flip(w, (0, 1))
        return jax.lax.conv_general_dilated(x, w, (1, 1), pads, (2, 2), dimension_numbers=DN)

    cot = jax.random.normal(jax.random.PRNGKey(2), y.shape)
    g = jax.jit(jax.grad(lambda x, w: jnp.sum(conv_transpose_stride2(x, w) * cot), (0, 1)))(x, w)
    g_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), (0, 1))(x, w)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    layer = layers.UpConv(4, (k, k))
    variables = layer.init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, variables["params"]) == {"kernel": (k, k, 3, 4), "bias": (4,)}
    with pytest.raises(ValueError, match="odd kernel"):
        conv_transpose_stride2(x, jnp.ones((4, 4, 3, 4)))


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (2, 1), (5, 6)])
def test_4x4_transposed_conv_is_pytorchs_at_every_map_size(size):
    """Maps of up to 4 pixels take the matmul form, larger ones the sub-pixel conv."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *size, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 3, 5))
    y = jax.jit(layers.conv_transpose_4x4_stride2)(x, w)
    assert y.shape == (2, 2 * size[0], 2 * size[1], 5)
    np.testing.assert_allclose(
        y, _torch_conv_transpose_stride2(np.asarray(x), np.asarray(w)), atol=1e-4
    )

    def ref(x, w):  # the zero-dilated form of ConvTranspose2d(4, 2, 1)
        return jax.lax.conv_general_dilated(
            x, jnp.flip(w, (0, 1)), (1, 1), [(2, 2)] * 2, (2, 2), dimension_numbers=DN
        )

    cot = jax.random.normal(jax.random.PRNGKey(2), y.shape)
    g = jax.grad(lambda x, w: jnp.sum(layers.conv_transpose_4x4_stride2(x, w) * cot), (0, 1))
    g_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), (0, 1))
    for a, b in zip(g(x, w), g_ref(x, w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_elu_matches_jax_nn_elu():
    x = jnp.linspace(-20.0, 5.0, 2001)
    np.testing.assert_allclose(elu(x), jax.nn.elu(x), atol=2e-7)
    np.testing.assert_allclose(
        jax.vmap(jax.grad(elu))(x), jax.vmap(jax.grad(jax.nn.elu))(x), atol=2e-7
    )
    # the derivative comes from the output (custom JVP): second order and forward mode too
    d2 = jax.vmap(jax.grad(jax.grad(elu)))(x)
    np.testing.assert_allclose(d2, jax.vmap(jax.grad(jax.grad(jax.nn.elu)))(x), atol=2e-7)
    t = jnp.cos(x)
    np.testing.assert_allclose(
        jax.jvp(elu, (x,), (t,))[1], jax.jvp(jax.nn.elu, (x,), (t,))[1], atol=2e-7
    )


class _PlainNormGate(nn.Module):
    """What ``layers.NormGate`` computes: flax's BatchNorm, then the gate."""

    train: bool

    @nn.compact
    def __call__(self, y):
        y = nn.BatchNorm(use_running_average=not self.train, momentum=0.9, epsilon=1e-5)(y)
        h, g = jnp.split(y, 2, axis=-1)
        return h * nn.sigmoid(g)


class _FastNormGate(nn.Module):
    train: bool

    @nn.compact
    def __call__(self, y):  # named as in nn/conv.py, so the variable trees can match
        return layers.NormGate(not self.train, name="BatchNorm_0")(y)


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_gate_matches_flax_batch_norm_then_gate(train):
    """Same variables, outputs, batch-statistics updates and gradients (input, scale, bias)."""
    y = 1.5 + 2.0 * jax.random.normal(jax.random.PRNGKey(0), (3, 5, 4, 6))
    cot = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 4, 3))
    scale = jnp.array([0.5, 1, 2, -1, 1.5, 0.7])
    variables = {
        "params": {"BatchNorm_0": {"scale": scale, "bias": jnp.arange(6) / 3}},
        "batch_stats": {"BatchNorm_0": {"mean": jnp.full(6, 0.2), "var": jnp.full(6, 1.3)}},
    }
    results = []
    for mod in (_FastNormGate(train), _PlainNormGate(train)):
        init = mod.init(jax.random.PRNGKey(2), y)
        assert jax.tree.map(jnp.shape, init) == jax.tree.map(jnp.shape, variables)

        def loss(params, y, mod=mod):
            out, upd = mod.apply({**variables, "params": params}, y, mutable=["batch_stats"])
            return jnp.sum(out * cot), (out, upd)

        grads, (out, upd) = jax.grad(loss, argnums=(0, 1), has_aux=True)(variables["params"], y)
        results.append((out, upd, grads))
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    if train:  # the statistics moved
        assert not np.allclose(results[0][1]["batch_stats"]["BatchNorm_0"]["mean"], 0.2)


def test_batch_norm_gate_vjp_includes_the_statistics_cotangents():
    """The mean / var outputs carry their gradient too (the module stops it, others may not)."""
    y = jax.random.normal(jax.random.PRNGKey(0), (7, 3, 4))
    scale, bias = jnp.array([1.0, 2.0, 0.5, -1.0]), jnp.array([0.1, 0.0, -0.2, 0.3])

    def plain(y, scale, bias):
        mean = jnp.mean(y, (0, 1))
        var = jnp.maximum(jnp.mean(y**2, (0, 1)) - mean**2, 0.0)
        z = (y - mean[None, None]) * (jax.lax.rsqrt(var + 1e-5) * scale)[None, None] + bias[
            None, None
        ]
        return z[..., :2] * nn.sigmoid(z[..., 2:]), mean, var

    cts = (jax.random.normal(jax.random.PRNGKey(1), (7, 3, 2)), jnp.arange(4.0), -jnp.ones(4))
    outs, vjp = jax.vjp(lambda *a: batch_norm_gate(*a, 1e-5), y, scale, bias)
    ref_outs, ref_vjp = jax.vjp(plain, y, scale, bias)
    for a, b in zip([*outs, *vjp(cts)], [*ref_outs, *ref_vjp(cts)], strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
