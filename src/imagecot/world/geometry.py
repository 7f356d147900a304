"""Boxes and GenEval's relative-position rule, shared by the scene sampler and the evaluator."""

from __future__ import annotations

import numpy as np

POSITION_THRESHOLD = 0.1  # GenEval: offsets are reduced by 0.1 x (sum of the two boxes' sizes)

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), pixels, x1/y1 exclusive


def relative_position(box_a: Box, box_b: Box) -> set[str]:
    """Relations of A to B as GenEval computes them (image y grows downwards).

    The centre offset is shrunk by 0.1 x (dim_a + dim_b) per axis, normalised by
    the raw offset's length, and a relation holds where that exceeds 0.5.
    """
    boxes = np.array([box_a, box_b], dtype=np.float64).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - POSITION_THRESHOLD * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def boxes_apart(a: Box, b: Box, gap: float) -> bool:
    """True when the boxes are separated by at least `gap` pixels on some axis."""
    return (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1])
