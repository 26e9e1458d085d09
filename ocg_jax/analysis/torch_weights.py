"""Reading a PyTorch state dict the user already has: a ``.pth`` (needs torch installed to
unpickle it) or an ``.npz`` with the same keys holding numpy arrays in the torch layout,
written once with ``numpy.savez(out, **{k: v.numpy() for k, v in torch.load(pth).items()})``.
"""

from pathlib import Path

import numpy as np


def read_state_dict(path, what: str, where_to_get: str) -> dict[str, np.ndarray]:
    """``{key: array}`` of ``path``; ``what`` names the network and ``where_to_get`` the
    file in the errors (a missing file, a suffix other than .pth / .pt / .npz, no torch)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what} weight file {path} not found; {where_to_get}")
    if path.suffix == ".npz":
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    if path.suffix in (".pth", ".pt"):
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"reading {path} needs torch; or convert it to .npz once: numpy.savez(out, "
                "**{k: v.numpy() for k, v in torch.load(pth).items()})"
            ) from e
        return {k: v.numpy() for k, v in torch.load(path, map_location="cpu").items()}
    raise ValueError(f"{what} weights must be .pth or .npz, got {path.name}")
