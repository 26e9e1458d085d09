"""Flax Linen building blocks shared by the model families."""
