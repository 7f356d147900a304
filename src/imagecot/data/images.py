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


def grid(imgs_BHW3: np.ndarray, cols: int, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile images into one uint8 picture with `cols` columns."""
    B, H, W, _ = imgs_BHW3.shape
    rows = (B + cols - 1) // cols
    out = np.full((rows * (H + pad) + pad, cols * (W + pad) + pad, 3), pad_value, dtype=np.uint8)
    for i, img in enumerate(imgs_BHW3):
        r, c = divmod(i, cols)
        out[pad + r * (H + pad): pad + r * (H + pad) + H, pad + c * (W + pad): pad + c * (W + pad) + W] = img
    return out


def save_grid_png(path, imgs_BHW3: np.ndarray, cols: int, scale: int = 4) -> None:
    """Tile images (see `grid`), upscale by `scale` with nearest neighbours, save atomically."""
    from PIL import Image

    from ..io_utils import atomic_save_png
    big = grid(imgs_BHW3, cols=cols)
    atomic_save_png(path, Image.fromarray(big).resize((big.shape[1] * scale, big.shape[0] * scale), Image.NEAREST))
