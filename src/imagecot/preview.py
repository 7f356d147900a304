"""Preview strips: what a generation looks like after every step (the step protocol made visible)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data.images import to_uint8
from .labelled_grid import save_labelled_grid


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
    """Write a PNG titled with the prompt: one row per candidate, one column per step (titled with the step's
    number; the last column, "final", is the final image)."""
    frames_TBHW3 = collect_previews(generator, [prompt] * n, sampling, seed, progress)
    T, B = frames_TBHW3.shape[:2]
    images_BTHW3 = frames_TBHW3.transpose(1, 0, 2, 3, 4)
    return save_labelled_grid(out, images_BTHW3.reshape(-1, *images_BTHW3.shape[2:]), T, scale=scale, pad=pad,
                              title=f"{prompt!r}: the preview after each step (columns), then the final image",
                              row_labels=[f"candidate {b + 1}" for b in range(B)],
                              column_titles=[str(t + 1) for t in range(T - 1)] + ["final"])
