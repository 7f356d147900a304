"""Resizing images to Inception's 299x299 the ways the field does it.

FID depends on the resize (Parmar et al., "On Aliased Resizing and Surprising
Subtleties in GAN Evaluation", the clean-fid paper), so the mode is part of a
reported number:

- "clean" (default): PIL bicubic on float32 channels, clipped to [0, 255], no
  re-quantisation. clean-fid's default "clean" mode; matches clean-fid's
  leaderboards and papers that report "clean-FID".
- "legacy_tensorflow": TF1 `resize_bilinear` (align_corners=False without half
  pixel centres: source = destination * in/out, edges clamped), the resize
  inside TTUR's original TF FID graph, OpenAI's ADM evaluation suite (which VAR,
  DiT, LlamaGen and MAR report with) and NVIDIA's StyleGAN inception file.
  Matches most published ImageNet FIDs.
- "legacy_pytorch": `F.interpolate(bilinear, align_corners=False)`, the resize
  of pytorch-fid (whose numbers also depend on its own Inception port).

All modes take uint8 (H, W, 3) and return float32 (3, 299, 299) in [0, 255].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MODES = ("clean", "legacy_tensorflow", "legacy_pytorch")
SIZE = 299


def _clean(img_HW3: np.ndarray, size: int) -> torch.Tensor:
    chans = [np.asarray(Image.fromarray(img_HW3[..., c].astype(np.float32), mode="F")
                        .resize((size, size), resample=Image.BICUBIC)) for c in range(3)]
    return torch.from_numpy(np.stack(chans)).clamp_(0, 255)


def tf1_bilinear(x_BCHW: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 resize_bilinear(align_corners=False, half_pixel_centers=False) on float input."""
    _, _, H, W = x_BCHW.shape

    def axis(n_in: int):
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0).float()

    y0, y1, wy = axis(H)
    x0, x1, wx = axis(W)
    top = x_BCHW[:, :, y0] * (1 - wy)[:, None] + x_BCHW[:, :, y1] * wy[:, None]
    return top[..., x0] * (1 - wx) + top[..., x1] * wx


def resize_for_inception(img_HW3: np.ndarray, mode: str = "clean", size: int = SIZE) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, size, size) in [0, 255], resized by `mode` (unchanged if already size)."""
    if mode not in MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {', '.join(MODES)}")
    if img_HW3.ndim != 3 or img_HW3.shape[2] != 3 or img_HW3.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {img_HW3.dtype} {img_HW3.shape}")
    if img_HW3.shape[:2] == (size, size):
        return torch.from_numpy(img_HW3).permute(2, 0, 1).float()
    if mode == "clean":
        return _clean(img_HW3, size)
    x = torch.from_numpy(img_HW3).permute(2, 0, 1)[None].float()
    if mode == "legacy_tensorflow":
        return tf1_bilinear(x, size)[0]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)[0]
