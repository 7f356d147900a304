"""Improved precision and recall on k-NN manifolds (Kynkäänniemi et al. 2019).

Each set of features spans a manifold: the union of balls around its points
with radius the distance to the k-th nearest neighbour (k = 3 as in the paper
and ADM's evaluator). Precision = share of generated samples inside the real
manifold (fidelity); recall = share of real samples inside the generated
manifold (coverage). Distances are computed in blocks, so 10k x 10k fits.
"""

from __future__ import annotations

import numpy as np
import torch


def _knn_radii(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    out = []
    for i in range(0, x.shape[0], block):
        d = torch.cdist(x[i:i + block], x)
        out.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(out)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, block: int) -> float:
    inside = []
    for i in range(0, queries.shape[0], block):
        d = torch.cdist(queries[i:i + block], points)
        inside.append((d <= radii[None]).any(1))
    return torch.cat(inside).float().mean().item()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, block: int = 1024) -> tuple[float, float]:
    r, f = torch.as_tensor(real, dtype=torch.float32), torch.as_tensor(fake, dtype=torch.float32)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dimensions differ: {r.shape[1]} vs {f.shape[1]}")
    if min(r.shape[0], f.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} features per side, "
                         f"got {r.shape[0]} and {f.shape[0]}")
    precision = _coverage(f, r, _knn_radii(r, k, block), block)
    recall = _coverage(r, f, _knn_radii(f, k, block), block)
    return precision, recall
