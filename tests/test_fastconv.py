import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ocg_jax.nn.fastconv import conv2d


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv2d_and_its_gradients_match_lax(padding, k):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 8, 3))
    w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 3, 4))

    def ref(x, w):
        return jax.lax.conv_general_dilated(
            x, w, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    np.testing.assert_allclose(conv2d(x, w, padding), ref(x, w), atol=1e-4)
    cot = jax.random.normal(jax.random.PRNGKey(2), ref(x, w).shape)
    g = jax.grad(lambda x, w: jnp.sum(conv2d(x, w, padding) * cot), (0, 1))(x, w)
    g_ref = jax.grad(lambda x, w: jnp.sum(ref(x, w) * cot), (0, 1))(x, w)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_conv2d_rejects_bad_arguments():
    x = jnp.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, jnp.zeros((3, 3, 2, 2)), "FULL")
    with pytest.raises(ValueError, match="odd"):
        conv2d(x, jnp.zeros((2, 2, 2, 2)), "SAME")
