"""Image grids a person can read: a title, column titles, a label per row and a verdict mark under each image.

A bare block of 32x32 images does not say which prompt a row is, which image
the evaluator passed or which one a search changed. `labelled_grid` tiles the
images (upscaled with nearest neighbours, so pixels stay pixels and the text
is legible beside them) and writes, top to bottom: an optional title; optional
column titles (one per column, or one per group of columns when `group_cols`
splits the columns into blocks with a wider gap between them); then per row an
optional label band above the tiles, the tiles, and, when `image_marks` is
given, a caption strip under each image with a green check (passed), a red
cross (failed) or nothing, and a short tag ("picked", "corrected"). Marks sit
below the image, never on it, so no pixel of the image is hidden.

Without labels, titles and marks the picture is the plain tiling, `pad`
pixels (before upscaling) between and around the images. Text uses Pillow's
built-in font (scalable since Pillow 10.1 with FreeType; the fixed bitmap font
otherwise), so nothing is downloaded. `save_labelled_grid` writes it
atomically. This is the one grid layout of the package
(`imagecot.data.images.save_grid_png` calls it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .io_utils import atomic_save_png

BACKGROUND = (255, 255, 255)
TEXT = (25, 25, 25)
TAG_TEXT = (80, 80, 80)
PASS = (20, 150, 60)    # green badge with a white check
FAIL = (205, 30, 30)    # red badge with a white cross
MAX_TEXT_WIDTH = 1600   # a label wider than the grid widens the picture up to this, then is cut with "..."


@dataclass(frozen=True)
class Mark:
    """What to show under one image: `passed` True (green check), False (red cross) or None (no badge),
    and a short `tag` beside it ("picked", "corrected"; "" for none)."""
    passed: bool | None = None
    tag: str = ""


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at `size` pixels; the fixed-size bitmap default where Pillow has no FreeType
    (or is older than 10.1, whose load_default takes no size)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError, AttributeError):
        return ImageFont.load_default()


def _text_size(text: str, fnt) -> tuple[int, int]:
    left, top, right, bottom = fnt.getbbox(text)
    return right - left, bottom


def _line_height(fnt) -> int:
    return _text_size("Ag|", fnt)[1]


def _fit(text: str, fnt, max_w: int) -> str:
    """`text`, cut with "..." so it is at most `max_w` pixels wide ("" if not even that fits)."""
    if _text_size(text, fnt)[0] <= max_w:
        return text
    for n in range(len(text) - 1, 0, -1):
        cut = text[:n].rstrip() + "..."
        if _text_size(cut, fnt)[0] <= max_w:
            return cut
    return ""


def _check_inputs(images_NHW3, cols, row_labels, image_marks, column_titles, group_cols, scale, pad) -> list[int]:
    """Raise a ValueError saying what was expected; returns the column groups (one group per column if none)."""
    if not isinstance(images_NHW3, np.ndarray) or images_NHW3.dtype != np.uint8 or images_NHW3.ndim != 4 \
            or images_NHW3.shape[-1] != 3 or images_NHW3.shape[0] == 0:
        got = (f"a {images_NHW3.dtype} array of shape {tuple(images_NHW3.shape)}"
               if isinstance(images_NHW3, np.ndarray) else type(images_NHW3).__name__)
        raise ValueError(f"images_NHW3 must be a uint8 array of shape (N, H, W, 3) with N >= 1; got {got}")
    for name, value, low in (("cols", cols, 1), ("scale", scale, 1), ("pad", pad, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    n = len(images_NHW3)
    rows = -(-n // cols)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must have one label per row: {n} images in {cols} columns are {rows} "
                         f"row(s); got {len(row_labels)} label(s)")
    if image_marks is not None:
        if len(image_marks) != n:
            raise ValueError(f"image_marks must have one entry (a Mark or None) per image: {n}; "
                             f"got {len(image_marks)}")
        bad = [i for i, m in enumerate(image_marks) if m is not None and not isinstance(m, Mark)]
        if bad:
            raise ValueError(f"image_marks entries must be Mark or None; entry {bad[0]} is "
                             f"{type(image_marks[bad[0]]).__name__}")
    groups = [1] * cols if group_cols is None else [int(g) for g in group_cols]
    if group_cols is not None and (any(g < 1 for g in groups) or sum(groups) != cols):
        raise ValueError(f"group_cols must be positive widths that add up to cols={cols}; got {list(group_cols)}")
    if column_titles is not None and len(column_titles) != len(groups):
        what = f"one per group of group_cols ({len(groups)})" if group_cols is not None else f"one per column ({cols})"
        raise ValueError(f"column_titles must have {what}; got {len(column_titles)}")
    return groups


def _draw_badge(draw: ImageDraw.ImageDraw, x: int, y: int, size: int, passed: bool) -> None:
    """A filled square at (x, y): green with a white check, or red with a white cross."""
    draw.rounded_rectangle((x, y, x + size - 1, y + size - 1), radius=max(1, size // 5), fill=PASS if passed else FAIL)
    w, m = max(1, size // 7), size / 4
    if passed:
        draw.line([(x + m * 0.9, y + size * 0.52), (x + size * 0.42, y + size - m * 1.05),
                   (x + size - m * 0.8, y + m * 0.9)], fill=BACKGROUND, width=w, joint="curve")
    else:
        draw.line([(x + m, y + m), (x + size - 1 - m, y + size - 1 - m)], fill=BACKGROUND, width=w)
        draw.line([(x + m, y + size - 1 - m), (x + size - 1 - m, y + m)], fill=BACKGROUND, width=w)


def labelled_grid(images_NHW3: np.ndarray, cols: int, row_labels: list[str] | None = None,
                  image_marks: list[Mark | None] | None = None, column_titles: list[str] | None = None,
                  scale: int = 4, title: str | None = None, group_cols: list[int] | None = None, pad: int = 1,
                  font_size: int = 14) -> Image.Image:
    """The images as a grid of `cols` columns (row-major; the last row may be short), upscaled `scale` times.

    row_labels: one text per row, written above it (a prompt, a class name). image_marks: one Mark or None per
    image, drawn under it. column_titles: one per column, or one per group when `group_cols` (widths adding up
    to `cols`) splits the columns into blocks with a wider gap between them. title: one line on top. pad:
    pixels between images before upscaling. Text wider than the grid widens the picture (up to
    MAX_TEXT_WIDTH pixels), then is cut with "...".
    """
    groups = _check_inputs(images_NHW3, cols, row_labels, image_marks, column_titles, group_cols, scale, pad)
    n, h, w, _ = images_NHW3.shape
    rows = -(-n // cols)
    th, tw, p = h * scale, w * scale, pad * scale
    gap = max(4 * p, 12) if group_cols is not None and len(groups) > 1 else p   # between groups of columns
    col_x = []   # left edge of each column's tiles
    x = p
    for g in groups:
        for _ in range(g):
            col_x.append(x)
            x += tw + p
        x += gap - p
    grid_w = x - (gap - p)
    title_font, label_font, small_font = font(font_size + 4), font(font_size), font(max(8, font_size - 2))
    margin = max(3, font_size // 3)

    def text_w(text, fnt):
        return _text_size(text, fnt)[0] + 2 * margin
    widest = max([grid_w] + [min(MAX_TEXT_WIDTH, text_w(t, title_font)) for t in [title] if t]
                 + [min(MAX_TEXT_WIDTH, text_w(t, label_font)) for t in (row_labels or []) if t])
    title_h = _line_height(title_font) + 2 * margin if title else 0
    col_title_h = _line_height(label_font) + margin if column_titles is not None else 0
    label_h = _line_height(label_font) + 2 * margin if row_labels is not None else 0
    badge = max(8, _line_height(small_font))
    caption_h = max(badge, _line_height(small_font)) + margin if image_marks is not None else 0
    row_h = label_h + th + caption_h + p
    top = title_h + col_title_h
    sheet = Image.new("RGB", (widest, top + p + rows * row_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)

    if title:
        text = _fit(title, title_font, widest - 2 * margin)
        draw.text(((widest - _text_size(text, title_font)[0]) // 2, margin), text, fill=TEXT, font=title_font)
    if column_titles is not None:
        first = np.cumsum([0] + groups[:-1])
        for g, (start, width) in enumerate(zip(first, groups)):
            x0, x1 = col_x[start], col_x[start + width - 1] + tw
            text = _fit(str(column_titles[g]), label_font, x1 - x0)
            draw.text((x0 + (x1 - x0 - _text_size(text, label_font)[0]) // 2, title_h), text, fill=TEXT,
                      font=label_font)
    for i, img in enumerate(images_NHW3):
        r, c = divmod(i, cols)
        y = top + p + r * row_h
        if c == 0 and row_labels is not None and row_labels[r]:
            draw.text((p, y + margin), _fit(str(row_labels[r]), label_font, widest - 2 * p), fill=TEXT, font=label_font)
        tile = Image.fromarray(img)
        sheet.paste(tile.resize((tw, th), Image.NEAREST) if scale != 1 else tile, (col_x[c], y + label_h))
        mark = image_marks[i] if image_marks is not None else None
        if mark is not None:
            cy, cx = y + label_h + th + margin // 2, col_x[c]
            if mark.passed is not None:
                _draw_badge(draw, cx, cy, badge, mark.passed)
                cx += badge + margin
            if mark.tag:
                draw.text((cx, cy), _fit(mark.tag, small_font, col_x[c] + tw - cx), fill=TAG_TEXT, font=small_font)
    return sheet


def save_labelled_grid(path: str | os.PathLike, images_NHW3: np.ndarray, cols: int, **kwargs) -> Path:
    """`labelled_grid(images_NHW3, cols, **kwargs)` written to `path` as a PNG, atomically; returns the path."""
    path = Path(path)
    atomic_save_png(path, labelled_grid(images_NHW3, cols, **kwargs))
    return path
