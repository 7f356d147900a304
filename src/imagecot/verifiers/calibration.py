"""Platt scaling: the two-parameter map of a score's logit that makes it a calibrated probability.

    p' = sigmoid(a * logit(p) + b)

fitted by maximum likelihood on labelled validation scores (never the benchmark's). It is monotone for a > 0, so
it leaves every ranking (within-pool AUC, best-of-N) as it was, and changes only what a fixed cut reads: PARM's
yes/no gate, the wave's stop at a confident "yes", the yes/no agreement `make demo` prints, and ECE.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

EPS = 1e-6   # scores are clipped to [EPS, 1 - EPS] before the logit: a verdict of exactly 0 or 1 stays finite


def logit(p):
    """The log-odds of probabilities p, clipped to [EPS, 1 - EPS] first."""
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def platt_apply(p: float, ab: tuple[float, float] | list[float]) -> float:
    """The calibrated probability of one score `p` under the map `ab` = (a, b)."""
    a, b = ab
    return _sigmoid(a * float(logit(p)) + b)


def platt_fit(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) that maximise the likelihood of `labels` (bool) under sigmoid(a * logit(probs) + b)."""
    x, y = logit(probs), np.asarray(labels, np.float64)
    if x.ndim != 1 or len(x) != len(y):
        raise ValueError(f"platt_fit needs one score per label, got {x.shape} scores and {y.shape} labels")
    if y.min() == y.max():
        raise ValueError(f"platt_fit needs both outcomes among the labels, got {len(y)} labels all {bool(y[0])}")

    def nll(ab):
        z = ab[0] * x + ab[1]
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    def grad(ab):
        r = 1.0 / (1.0 + np.exp(-(ab[0] * x + ab[1]))) - y
        return np.array([np.mean(r * x), np.mean(r)])

    res = minimize(nll, np.array([1.0, 0.0]), jac=grad, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def platt_invert(p: float, ab: tuple[float, float] | list[float]) -> float:
    """The raw score whose calibrated probability is `p` (exact up to the clip at EPS): to replay scores recorded
    with a calibration as they were without it."""
    a, b = ab
    return _sigmoid((float(logit(p)) - b) / a)
