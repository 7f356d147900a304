"""Fashion-MNIST (Xiao et al. 2017) from its IDX files, as 32x32 RGB: the real-data class-conditional track.

The files are Debian's `dataset-fashion-mnist` package by default
(/usr/share/datasets/fashion-mnist/, gzipped IDX; `make fashion-mnist` installs
it); `$IMAGECOT_FASHION_MNIST` or a `root` argument points elsewhere, and
plain (un-gzipped) IDX files are read too. 28x28 grey images are padded with
2 black pixels per side (the background is 0) and repeated to 3 channels.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "IMAGECOT_FASHION_MNIST"
CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
BACKGROUND = (0, 0, 0)
RESOLUTION = 32


def default_root() -> Path:
    return Path(os.environ.get(ENV_VAR, DEFAULT_ROOT))


def _open(root: Path, name: str):
    for path in (root / f"{name}.gz", root / name):
        if path.is_file():
            return path, (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb"))
    raise FileNotFoundError(
        f"Fashion-MNIST file {name}(.gz) not found in {root}; install Debian's dataset-fashion-mnist "
        f"(`make fashion-mnist`), or set ${ENV_VAR} / pass the folder holding the IDX files")


def read_idx(root: Path, name: str, expected_dims: int) -> np.ndarray:
    """An IDX file (uint8 payload) as an array, with its header checked."""
    path, f = _open(root, name)
    with f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] != expected_dims:
        raise ValueError(f"{path} is not a uint8 IDX file with {expected_dims} dimension(s) (header {data[:4].hex()})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(expected_dims)]
    payload = np.frombuffer(data, np.uint8, offset=4 + 4 * expected_dims)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes) but {payload.size} follow")
    return payload.reshape(dims)


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of `split` ('train' 60k or 'test' 10k)."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else default_root()
    img_name, lbl_name = FILES[split]
    imgs = read_idx(root, img_name, 3)
    labels = read_idx(root, lbl_name, 1).astype(np.int64)
    if imgs.shape[0] != labels.shape[0] or imgs.shape[1:] != (28, 28):
        raise ValueError(f"{root}: {imgs.shape[0]} images of {imgs.shape[1:]} vs {labels.shape[0]} labels; "
                         "expected 28x28 images, one label each")
    padded = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(padded[..., None], 3, axis=3), labels


@dataclass
class ClassBatch:
    specs: list[dict]           # {"prompt": class name, "class_id": k}, what the training losses read
    labels_B: np.ndarray
    images_BHW3: np.ndarray


class FashionMNISTStream:
    """Random training batches; batch `step` depends only on (seed, step), so resumed runs see the same data."""

    def __init__(self, seed: int = 0, split: str = "train", root: str | Path | None = None):
        self.seed = seed
        self.images, self.labels = load_fashion_mnist(split, root)
        self.resolution = RESOLUTION

    def batch(self, step: int, batch_size: int) -> ClassBatch:
        idx = np.random.default_rng([self.seed, step]).integers(0, len(self.labels), batch_size)
        labels = self.labels[idx]
        return ClassBatch([{"prompt": CLASSES[k], "class_id": int(k)} for k in labels], labels, self.images[idx])
