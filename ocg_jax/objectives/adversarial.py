"""GAN losses: hinge (Lim & Ye 2017; Miyato et al. 2018) and WGAN-GP (Gulrajani et al. 2017).

``d_real``, ``d_fake``: the critic's outputs ``[B]`` on real and generated images.
Each loss is a scalar to minimise.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def hinge_discriminator_loss(d_real: Array, d_fake: Array) -> Array:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``."""
    return jnp.mean(jax.nn.relu(1.0 - d_real)) + jnp.mean(jax.nn.relu(1.0 + d_fake))


def hinge_generator_loss(d_fake: Array) -> Array:
    """``-mean(D(fake))``: the generator (and ReDO's mask network) side of the hinge loss."""
    return -jnp.mean(d_fake)


def wgan_discriminator_loss(d_real: Array, d_fake: Array) -> Array:
    """``mean(D(fake)) - mean(D(real))``: the critic's side of the Wasserstein loss."""
    return jnp.mean(d_fake) - jnp.mean(d_real)


def wgan_generator_loss(d_fake: Array) -> Array:
    return -jnp.mean(d_fake)


def gradient_penalty(
    critic: Callable[[Array], Array], real: Array, fake: Array, rng: jax.Array
) -> Array:
    """WGAN-GP's ``mean((||grad_x D(x_hat)||_2 - 1)^2)`` at ``x_hat`` on random points of the
    segments between real and fake images ``[B, ...]``; ``critic`` maps ``[B, ...] -> [B]``."""
    b = real.shape[0]
    t = jax.random.uniform(rng, (b,) + (1,) * (real.ndim - 1), real.dtype)
    x_hat = t * real + (1.0 - t) * jax.lax.stop_gradient(fake)
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
    norms = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(b, -1)), axis=-1) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))
