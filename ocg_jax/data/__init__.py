"""Datasets: procedural renderers, tfds builders, the sharded grain pipeline."""
