"""Pinwheel data (Adams' generator, as Disentangling Disentanglement uses it).

``num_arms`` arms of ``per_arm`` 2-D points.  A point starts at (r, t) with
r ~ N(1, tangential_std^2) and t ~ N(0, radial_std^2) and is rotated by its arm's
angle plus ``rate * exp(r)``.  The argument names and values are the original's
call ``pinwheel(0.1, 0.3, 4, 100, 0.25)``; its MATLAB generator scales the radius
by the second and the tangent by the first, and we reproduce its data.
"""

import numpy as np


def pinwheel(
    rng: np.random.Generator,
    radial_std: float = 0.1,
    tangential_std: float = 0.3,
    num_arms: int = 4,
    per_arm: int = 100,
    rate: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """``(points float32 [num_arms * per_arm, 2], arm int32 [...])``, arms in order."""
    n = num_arms * per_arm
    start = rng.standard_normal((n, 2)) * np.array([tangential_std, radial_std])
    start[:, 0] += 1.0
    arm = np.repeat(np.arange(num_arms), per_arm)
    angle = 2 * np.pi * arm / num_arms + rate * np.exp(start[:, 0])
    c, s = np.cos(angle), np.sin(angle)
    # the row vector times [[c, -s], [s, c]], as the original
    points = np.stack([start[:, 0] * c + start[:, 1] * s, -start[:, 0] * s + start[:, 1] * c], 1)
    return points.astype(np.float32), arm.astype(np.int32)
