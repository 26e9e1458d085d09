"""Progress bars: notebook widgets where ipywidgets is installed, text bars elsewhere.

``tqdm.auto`` picks the widget bar in any notebook kernel and, without ipywidgets
(a plain Jupyter or the kernels the tests start), warns "IProgress not found" on every
bar; this chooses the widget bar only when it can draw.
"""

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm import tqdm

__all__ = ["tqdm"]
