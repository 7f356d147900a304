"""Conversions between uint8 images (H, W, 3) and model tensors (B, 3, H, W) in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(imgs_BHW3: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(imgs_BHW3)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(img_B3HW: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3), rounded."""
    x = ((img_B3HW.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def save_grid_png(path, imgs_BHW3: np.ndarray, cols: int, scale: int = 4) -> None:
    """Tile images without labels, upscale by `scale` with nearest neighbours, save atomically (the layout is
    `imagecot.labelled_grid`'s, the one grid layout of the package)."""
    from ..labelled_grid import save_labelled_grid
    save_labelled_grid(path, imgs_BHW3, cols, scale=scale)
