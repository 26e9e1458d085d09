"""XLA flags that help on the CPU; set before jax initialises its backend."""

import os

#: measured with experiments/benchmark.py (see docs/performance.md)
CPU_FLAGS: tuple[str, ...] = ()


def set_cpu_flags() -> None:
    """Append ``CPU_FLAGS`` to ``XLA_FLAGS`` unless the user already set them."""
    current = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in CPU_FLAGS if f.split("=")[0] not in current]
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([current, *extra]).strip()
