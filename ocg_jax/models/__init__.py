"""Model families; get one with ``ocg_jax.models.registry.get_model``."""
