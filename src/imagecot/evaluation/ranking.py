"""How well a verifier's scores rank and how well they are calibrated: AUC, AUC within pools, ECE.

Best-of-N ranks the candidates of one prompt, so the figure that predicts its
gain is the AUC *within* each pool (one prompt's candidates), averaged over
the pools that hold both verdicts; the pooled AUC also rewards knowing which
prompts are hard, which picks nothing.
"""

from __future__ import annotations

import numpy as np


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None (undefined) if one class is absent."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    # average rank of each run of ties
    starts = np.r_[0, np.nonzero(np.diff(sorted_scores))[0] + 1]
    ends = np.r_[starts[1:], len(scores)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b - 1) / 2 + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def within_group_auc(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> tuple[float | None, int]:
    """(mean AUC over the groups that hold both labels, how many such groups); (None, 0) when none does."""
    scores, labels, groups = np.asarray(scores), np.asarray(labels, bool), np.asarray(groups)
    values = []
    for g in np.unique(groups):
        m = groups == g
        a = auc(scores[m], labels[m])
        if a is not None:
            values.append(a)
    return (float(np.mean(values)) if values else None), len(values)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float | None:
    """ECE with equal-width bins: sum over bins of (share of samples) x |mean probability - accuracy|."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.float64)
    if not len(probs):
        return None
    which = np.minimum((probs * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(probs[m].mean() - labels[m].mean())
    return float(total)
