"""Pixel masks of the world's shapes, drawn inside a w x h box.

Hard-edged (no anti-aliasing) so that a rendered scene uses exact palette
colours; the detector matches blobs against these same masks.
"""

import numpy as np

from .vocab import SHAPES


def shape_mask(shape: str, w: int, h: int) -> np.ndarray:
    """Boolean mask of shape `shape` filling a box of width w and height h, shape (h, w)."""
    if w < 1 or h < 1:
        raise ValueError(f"a shape box needs positive width and height, got {w}x{h}")
    # pixel centres in [-1, 1] box coordinates
    u = ((np.arange(w) + 0.5) / w) * 2 - 1  # (w,)
    v = ((np.arange(h) + 0.5) / h) * 2 - 1  # (h,)
    U, V = np.meshgrid(u, v)  # (h, w)
    if shape == "square":
        return np.ones((h, w), dtype=bool)
    if shape == "circle":
        return U**2 + V**2 <= 1.0 + 1e-9
    if shape == "diamond":
        return np.abs(U) + np.abs(V) <= 1.0 + 1.0 / max(w, h)
    if shape == "triangle":
        # apex at the top, base on the bottom row; half-width grows with the row's bottom edge
        row_bottom = (np.arange(h) + 1.0) / h  # (h,) in (0, 1]
        return np.abs(U) <= row_bottom[:, None] + 1e-9
    raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}")
