"""XLA flags ocg_jax sets for the CPU backend; ``import ocg_jax`` applies them.

jaxlib 0.10 hands every convolution to YNNPACK by default.  On the x86 CPUs we
measured (docs/performance.md) XLA's own Eigen convolutions ran GENESIS's
convs 2-3x faster, and their gradients up to 4x faster, so we turn YNNPACK off
for convolutions only; it keeps the reductions and dots, where it is faster
than Eigen.  Flags only take effect before JAX starts its CPU backend.  A flag
the user already put in ``XLA_FLAGS`` is left as they set it, and setting
``OCG_JAX_NO_XLA_FLAGS=1`` keeps ours out entirely.
"""

import os
import warnings

CPU_FLAGS: tuple[str, ...] = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)
OPT_OUT = "OCG_JAX_NO_XLA_FLAGS"


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API: assume not started
        return False


def set_cpu_flags() -> list[str]:
    """Append the ``CPU_FLAGS`` the user has not set to ``XLA_FLAGS``; returns those added.

    Warns (and adds nothing) when JAX's backend is already running, since XLA would
    ignore them."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return []
    current = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in CPU_FLAGS if f.split("=")[0] not in current]
    if not extra:
        return []
    if _backend_started():
        warnings.warn(
            f"ocg_jax was imported after JAX started its backend, so its XLA flags {extra} "
            "are not in effect; CPU convolutions may run 2-3x slower. Import ocg_jax first, "
            f"or set them in XLA_FLAGS yourself ({OPT_OUT}=1 silences this).",
            stacklevel=3,
        )
        return []
    os.environ["XLA_FLAGS"] = " ".join([current, *extra]).strip()
    return extra
