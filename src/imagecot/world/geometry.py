"""Boxes and GenEval's relative-position rule, shared by the scene sampler and the evaluator."""

from __future__ import annotations

import numpy as np

POSITION_THRESHOLD = 0.1  # GenEval: offsets are reduced by 0.1 x (sum of the two boxes' sizes)

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), pixels, x1/y1 exclusive


def revised_offset(center_a, dim_a, center_b, dim_b) -> np.ndarray | None:
    """GenEval's (dx, dy) of A from B: the centre offset shrunk by 0.1 x (dim_a + dim_b) per axis, over the raw
    offset's length (any unit; y grows downwards); None where the shrunk offset vanishes (no relation)."""
    center_a, center_b = np.asarray(center_a, np.float64), np.asarray(center_b, np.float64)
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - POSITION_THRESHOLD * (np.asarray(dim_a) + np.asarray(dim_b)), 0)
    revised = revised * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return None
    return revised / np.linalg.norm(offset)


RELATION_AXIS = {"left of": (0, -1), "right of": (0, 1), "above": (1, -1), "below": (1, 1)}   # (axis, sign)


def relative_position(box_a: Box, box_b: Box) -> set[str]:
    """Relations of A to B as GenEval computes them (image y grows downwards): a relation holds where the
    revised offset (`revised_offset`) exceeds 0.5 along its axis."""
    boxes = np.array([box_a, box_b], dtype=np.float64).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    d = revised_offset(center_a, dim_a, center_b, dim_b)
    if d is None:
        return set()
    return {rel for rel, (axis, sign) in RELATION_AXIS.items() if sign * d[axis] > 0.5}


def boxes_apart(a: Box, b: Box, gap: float) -> bool:
    """True when the boxes are separated by at least `gap` pixels on some axis."""
    return (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])
