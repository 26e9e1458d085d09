"""ocg_jax: object-centric generative scene models in JAX/Flax."""

__version__ = "0.1.0"
