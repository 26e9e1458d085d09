"""XLA flags ocg_jax sets for the CPU backend; ``import ocg_jax`` applies them.

jaxlib 0.10 hands every convolution to YNNPACK by default.  On the x86 CPUs we
measured (docs/performance.md) XLA's own Eigen convolutions ran GENESIS's
convs 2-3x faster, and their gradients up to 4x faster, so we turn YNNPACK off
for convolutions only; it keeps the reductions and dots, where it is faster
than Eigen.  Flags only take effect before JAX starts its CPU backend.  A flag
the user already put in ``XLA_FLAGS`` is left as they set it, and setting
``OCG_JAX_NO_XLA_FLAGS=1`` keeps ours out entirely.

Several CPU devices in one process (``--xla_force_host_platform_device_count``,
``jax_num_cpu_devices``: how multi-device code is tested) also need threads:
XLA's CPU client sizes its thread pools to max(cores, devices), and with 2
devices on 2 cores a cheap data-parallel step deadlocks in its all-reduce (one
device's step holds the threads the other's queued step waits for; jaxlib
0.10.2 aborted after 40 s in 3 of 3 runs of 300 small steps, 0 of 2 with 4
threads).  ``set_cpu_threads`` sets ``PJRT_NPROC``, which the client reads.
"""

import os
import re
import sys
import warnings

CPU_FLAGS: tuple[str, ...] = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)
OPT_OUT = "OCG_JAX_NO_XLA_FLAGS"
THREADS_ENV = "PJRT_NPROC"  # XLA's CPU client: the size of its thread pools


def _backend_started() -> bool:
    if "jax" not in sys.modules:  # not imported yet, so not started (importing it takes seconds)
        return False
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API: assume not started
        return False


def set_cpu_flags() -> list[str]:
    """Append the ``CPU_FLAGS`` the user has not set to ``XLA_FLAGS``; returns those added.
    Also sets the thread count for the CPU devices the environment asks for.

    Warns (and adds nothing) when JAX's backend is already running, since XLA would
    ignore them."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return []
    set_cpu_threads(_devices_from_env(os.environ))
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


def _devices_from_env(environ) -> int:
    """CPU devices asked for through the environment (``XLA_FLAGS`` or ``JAX_NUM_CPU_DEVICES``)."""
    found = re.search(r"--xla_force_host_platform_device_count=(\d+)", environ.get("XLA_FLAGS", ""))
    counts = [int(found.group(1)) if found else 1]
    if environ.get("JAX_NUM_CPU_DEVICES", "").strip().isdigit():
        counts.append(int(environ["JAX_NUM_CPU_DEVICES"]))
    return max(counts)


def cpu_threads_for(num_devices: int, cores: int | None = None) -> int:
    """Pool threads for ``num_devices`` CPU devices: the cores, and at least two per device."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0))
    return max(cores, 2 * num_devices)


def set_cpu_threads(num_devices: int) -> int | None:
    """Set ``PJRT_NPROC`` for ``num_devices`` CPU devices in this process (see the module
    docstring); returns the value set, or None when one device needs nothing, the user set
    it, or the backend already runs.  Call it before JAX starts its backend."""
    if num_devices <= 1 or os.environ.get(OPT_OUT, "") not in ("", "0"):
        return None
    if THREADS_ENV in os.environ or "NPROC" in os.environ or _backend_started():
        return None
    threads = cpu_threads_for(num_devices)
    os.environ[THREADS_ENV] = str(threads)
    return threads
