"""The training engine: state, steps, sharding, checkpoints, logging, loop."""
