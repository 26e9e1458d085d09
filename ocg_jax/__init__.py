"""ocg_jax: object-centric generative scene models in JAX/Flax."""

import warnings as _warnings

from ocg_jax.platform.xla_flags import set_cpu_flags as _set_cpu_flags

__version__ = "0.1.0"

_set_cpu_flags()  # before JAX starts its CPU backend; see ocg_jax/platform/xla_flags.py
# tqdm.auto, imported by tfds, warns in a notebook without ipywidgets; our bars are text
# bars there (ocg_jax/platform/progress.py) and tfds's are off, so the warning says nothing
_warnings.filterwarnings("ignore", message="IProgress not found")
