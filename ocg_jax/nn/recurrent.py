"""LSTMs over the slot axis that output diagonal Gaussians, run with ``nn.scan``.

Used by GENESIS for the recurrent mask posterior and the autoregressive mask
prior.  Arrays are time-major inside the scan: ``[T, B, ...]``.  The scans are
unrolled (T = K - 1 is a handful of slots): in a loop, the all-reduce of the LSTM
weights' gradient over a multi-device batch runs inside XLA:CPU's while thunk,
which its executor can start before the step's other all-reduces on one device
and after them on another; two devices sharing two cores then each wait for the
other for good (seen in the 2-device tests).  Unrolled, every collective is in
one sequence that both devices follow.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
Gaussian = tuple[Array, Array]  # (mean, std), each [..., D]


class GaussianLSTM(nn.Module):
    """LSTM + linear head giving ``N(mean, std)`` for the next latent.

    ``head="posterior"``: std = softplus(x + 0.5) + 1e-8 (GENESIS posterior).
    ``head="prior"``: mean = tanh(x_mean), std = sigmoid(x_std + 4) + 1e-4.
    """

    hidden: int
    latent: int
    head: str = "prior"

    def setup(self):
        if self.head not in ("prior", "posterior"):
            raise ValueError(f"GaussianLSTM.head must be 'prior' or 'posterior', got {self.head!r}")
        self.cell = nn.OptimizedLSTMCell(self.hidden)
        self.out = nn.Dense(2 * self.latent)

    def _gaussian(self, y: Array) -> Gaussian:
        mean, raw = jnp.split(self.out(y), 2, axis=-1)
        if self.head == "posterior":
            return mean, nn.softplus(raw + 0.5) + 1e-8
        return jnp.tanh(mean), nn.sigmoid(raw + 4.0) + 1e-4

    def _zero_carry(self, batch: int, dtype) -> tuple[Array, Array]:
        zeros = jnp.zeros((batch, self.hidden), dtype)
        return zeros, zeros

    def teacher_forced(self, inputs: Array) -> Gaussian:
        """``inputs [T, B, Din] -> (mean, std) [T, B, D]``: step t sees inputs[:t+1]."""

        def body(mdl, carry, x):
            carry, y = mdl.cell(carry, x)
            return carry, mdl._gaussian(y)

        scan = nn.scan(
            body, variable_broadcast="params", split_rngs={"params": False}, unroll=inputs.shape[0]
        )
        _, (mean, std) = scan(self, self._zero_carry(inputs.shape[1], inputs.dtype), inputs)
        return mean, std

    def sample(self, z0: Array, eps: Array, context: Array | None = None):
        """Autoregressive sampling: step t reads ``[context, z_{t-1}]``.

        Args:
          z0: ``[B, D]`` the latent before the first step.
          eps: ``[T, B, D]`` standard-normal noise, one per step.
          context: optional ``[B, Dc]`` input repeated at every step.
        Returns:
          ``(z, mean, std)``, each ``[T, B, D]``.
        """
        if context is None:
            context = jnp.zeros((z0.shape[0], 0), z0.dtype)

        def body(mdl, carry, e, ctx):
            lstm, z_prev = carry
            lstm, y = mdl.cell(lstm, jnp.concatenate([ctx, z_prev], axis=-1))
            mean, std = mdl._gaussian(y)
            z = mean + std * e
            return (lstm, z), (z, mean, std)

        scan = nn.scan(
            body,
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=(0, nn.broadcast),
            unroll=eps.shape[0],
        )
        carry = (self._zero_carry(z0.shape[0], z0.dtype), z0)
        _, (z, mean, std) = scan(self, carry, eps, context)
        return z, mean, std
