"""What FID reads: image folders, ADM-style sample batches and precomputed statistics.

- a folder of images (recursive; png, jpg, jpeg, bmp, webp, tif, tiff), any
  size; grey, palette, RGBA and CMYK are converted with PIL's `convert("RGB")`
  as clean-fid and pytorch-fid do (alpha is dropped, not composited);
- an `.npz` with `arr_0`: uint8 (N, H, W, 3) images, the sample-batch format of
  OpenAI's ADM evaluation suite (what VAR, DiT and LlamaGen release), read in
  slices so 50k images never sit in memory at once;
- an `.npz` with `mu` and `sigma` (and no `arr_0`): statistics in pytorch-fid
  and clean-fid's format.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


class ImageSourceError(ValueError):
    pass


def source_kind(path: str | Path) -> str:
    """'folder', 'images' (npz with arr_0) or 'stats' (npz with mu, sigma)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise ImageSourceError(f"{path} does not exist; expected an image folder or an .npz file")
    if path.suffix != ".npz":
        raise ImageSourceError(f"{path} is neither a folder nor an .npz file (ADM sample batch or mu/sigma stats)")
    try:
        with zipfile.ZipFile(path) as z:
            keys = {Path(n).stem for n in z.namelist()}
    except zipfile.BadZipFile as e:
        raise ImageSourceError(f"{path} is not a readable .npz file: {e}") from e
    if "arr_0" in keys:
        return "images"
    if {"mu", "sigma"} <= keys:
        return "stats"
    raise ImageSourceError(f"{path} holds {sorted(keys)}; expected 'arr_0' (uint8 NHWC images) or 'mu' and 'sigma'")


def list_images(folder: str | Path) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise ImageSourceError(f"no images in {folder} (looked for {', '.join(sorted(IMAGE_EXTS))}, recursively)")
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """uint8 (H, W, 3); an unreadable or corrupt file raises an error that names it."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as e:  # PIL raises many kinds for truncated/corrupt files
        raise ImageSourceError(f"cannot read image {path}: {e}") from e


def _read_npy_header(f, path: Path):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ImageSourceError(f"{path}: .npy format version {version} is not supported (1.0 and 2.0 are)")


class _NpzArray:
    """Header and row reader of one .npy member of an .npz, without loading it whole."""

    def __init__(self, path: Path, key: str = "arr_0"):
        self.path, self.key = path, key
        with zipfile.ZipFile(path) as z, z.open(f"{key}.npy") as f:
            self.shape, fortran, self.dtype = _read_npy_header(f, path)
        if fortran or self.dtype != np.uint8 or len(self.shape) != 4 or self.shape[3] not in (1, 3, 4):
            raise ImageSourceError(f"{path}: {key} is {self.dtype} {self.shape}; "
                                   "expected uint8 (N, H, W, 3) in C order")

    def batches(self, rows: int) -> Iterator[np.ndarray]:
        row_bytes = int(np.prod(self.shape[1:]))
        with zipfile.ZipFile(self.path) as z, z.open(f"{self.key}.npy") as f:
            _read_npy_header(f, self.path)
            for start in range(0, self.shape[0], rows):
                n = min(rows, self.shape[0] - start)
                buf = f.read(n * row_bytes)
                if len(buf) != n * row_bytes:
                    raise ImageSourceError(f"{self.path}: {self.key} is truncated at image {start}")
                yield np.frombuffer(buf, np.uint8).reshape(n, *self.shape[1:])


def count_images(path: str | Path) -> int:
    kind = source_kind(path)
    if kind == "folder":
        return len(list_images(path))
    if kind == "images":
        return _NpzArray(Path(path)).shape[0]
    raise ImageSourceError(f"{path} holds statistics, not images")


def iter_images(path: str | Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """uint8 (H, W, 3) images of a folder or an ADM npz, in a fixed order, at most `limit`."""
    kind, n = source_kind(path), 0
    if kind == "stats":
        raise ImageSourceError(f"{path} holds statistics (mu, sigma), not images")
    if kind == "folder":
        for f in list_images(path)[:limit]:
            yield read_rgb(f)
        return
    for batch in _NpzArray(Path(path)).batches(256):
        for img in batch:
            if limit is not None and n >= limit:
                return
            n += 1
            yield np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def load_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(mu (D,), sigma (D, D), n) in float64 from a pytorch-fid / clean-fid stats npz; n is the number of images
    where the file records it (ours do, as an extra key other readers ignore), else None."""
    with np.load(path, allow_pickle=False) as f:
        if "mu" not in f or "sigma" not in f:
            raise ImageSourceError(f"{path} holds {sorted(f.keys())}; expected 'mu' and 'sigma'")
        mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
        n = int(f["n"]) if "n" in f and f["n"].shape == () else None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ImageSourceError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not fit; expected (D,) and (D, D)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ImageSourceError(f"{path} holds NaN or infinite values in mu or sigma; expected the finite statistics "
                               "of real features (recompute them with imagecot fid --stats)")
    return mu, sigma, n
