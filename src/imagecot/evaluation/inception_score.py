"""Inception Score over class probabilities (needs an Inception file with its classifier layer)."""

from __future__ import annotations

import math

import numpy as np


def inception_score(probs_NC: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): exp E[KL(p(y|x) || p(y))], mean and std over splits."""
    p = np.asarray(probs_NC, np.float64)
    if p.shape[0] < splits:
        raise ValueError(f"Inception Score over {splits} splits needs at least {splits} images, got {p.shape[0]}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1).mean()
        scores.append(math.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
