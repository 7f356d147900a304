"""Kernel Inception Distance (Bińkowski et al. 2018), as clean-fid and torch-fidelity compute it.

Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3,
averaged over `subsets` random subsets of `subset_size` features from each
side (100 x 1000 by default, clipped to the smaller N). Unlike FID it is
unbiased in N, so small sample sizes compare fairly.
"""

from __future__ import annotations

import numpy as np

SUBSET_SIZE = 1000  # clean-fid's and torch-fidelity's


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def kernel_inception_distance(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100,
                              subset_size: int = SUBSET_SIZE, seed: int = 0) -> tuple[float, float | None]:
    """(mean, std) of the unbiased MMD^2 over random subsets (features in float64). The std is None where both
    sides have at most `subset_size` features: every subset is then the whole set, and they do not vary."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 features on each side, got {a.shape[0]} and {b.shape[0]}")
    rng = np.random.default_rng(seed)
    vals = [_mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
            for _ in range(subsets)]
    whole = m == a.shape[0] and m == b.shape[0]
    return float(np.mean(vals)), None if whole else float(np.std(vals))
