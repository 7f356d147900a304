"""Preview strips: what a generation looks like after every step (the step protocol made visible)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .data.images import to_uint8
from .io_utils import atomic_save_png


def collect_previews(generator, prompts: list, sampling=None, seed=0, progress: bool = False) -> np.ndarray:
    """uint8 (steps + 1, B, H, W, 3): the preview after each step, then the final image."""
    session = generator.start(prompts, sampling, seed=seed)
    frames = []
    for _ in tqdm(range(session.num_steps), desc="previews", unit="step", disable=not progress):
        session.step()
        frames.append(to_uint8(session.preview()))
    frames.append(to_uint8(session.finish().images))
    return np.stack(frames)


def preview_strip(generator, prompt: str, out: str | Path, n: int = 4, sampling=None, seed: int = 0,
                  scale: int = 4, pad: int = 2, progress: bool = True) -> Path:
    """Write a PNG: one row per candidate, one column per step (the last column is the final image)."""
    frames_TBHW3 = collect_previews(generator, [prompt] * n, sampling, seed, progress)
    T, B, H, W, _ = frames_TBHW3.shape
    sheet = np.full((B * (H + pad) + pad, T * (W + pad) + pad, 3), 255, dtype=np.uint8)
    for t in range(T):
        for b in range(B):
            y, x = pad + b * (H + pad), pad + t * (W + pad)
            sheet[y:y + H, x:x + W] = frames_TBHW3[t, b]
    out = Path(out)
    atomic_save_png(out, Image.fromarray(sheet).resize((sheet.shape[1] * scale, sheet.shape[0] * scale), Image.NEAREST))
    return out
