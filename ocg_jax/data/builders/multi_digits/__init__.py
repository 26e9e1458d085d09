"""The ``multi_digits`` dataset (AIR's multi-digit canvases)."""
