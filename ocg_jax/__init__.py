"""ocg_jax: object-centric generative scene models in JAX/Flax."""

from ocg_jax.platform.xla_flags import set_cpu_flags as _set_cpu_flags

__version__ = "0.1.0"

_set_cpu_flags()  # before JAX starts its CPU backend; see ocg_jax/platform/xla_flags.py
