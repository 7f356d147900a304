"""Fréchet Inception Distance, computed the way the field does, fast and in bounded memory.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)) over Inception
pool3 features (Heusel et al. 2017). The trace of the matrix square root is
taken from eigenvalues in float64: with S1 = L L^T (Cholesky), S1 S2 is
similar to the symmetric PSD matrix L^T S2 L, so tr((S1 S2)^(1/2)) =
sum sqrt(eigvalsh(L^T S2 L)): one Cholesky and one symmetric eigenvalue
problem instead of `scipy.linalg.sqrtm` (slow, deprecated arguments, spurious
imaginary parts on near-singular products). A singular S1 (fewer images than
dimensions) takes its PSD square root from an eigendecomposition instead.
Statistics are streamed (sums and outer products in float64), so 50k+ images
need O(D^2) memory, not O(N D).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import distributed
from ..io_utils import atomic_write_bytes
from .image_sources import (
    ImageSourceError,
    count_images,
    iter_images,
    load_stats,
    source_kind,
)
from .inception import InceptionExtractor
from .resize import resize_for_inception


class FeatureStats:
    """Streaming mean and covariance (float64) of feature rows; optionally keeps `keep` rows for KID and
    precision/recall: a seeded uniform reservoir sample (Algorithm R), not a prefix, so a source written class
    by class (class-sample folders, VAR's npz batches) is sampled over all its classes."""

    def __init__(self, keep: int = 0, seed: int = 0):
        self.n, self.keep = 0, keep
        self._shift = self._sum = self._outer = None
        self._kept: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)

    def update(self, feats_BD: np.ndarray | torch.Tensor) -> None:
        x = np.asarray(feats_BD, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be (B, D), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"features {self.n}..{self.n + len(x) - 1} hold NaN or infinite values; the feature "
                             "extractor is broken or was given non-finite images")
        if self._sum is None:
            self._shift = x.mean(0)  # sums of shifted rows keep the covariance free of cancellation
            self._sum = np.zeros(x.shape[1])
            self._outer = np.zeros((x.shape[1], x.shape[1]))
        elif x.shape[1] != self._sum.shape[0]:
            raise ValueError(f"feature dimension changed from {self._sum.shape[0]} to {x.shape[1]}")
        xc = x - self._shift
        self._sum += xc.sum(0)
        self._outer += xc.T @ xc
        if self.keep:
            self._reservoir(np.asarray(feats_BD, dtype=np.float32))
        self.n += x.shape[0]

    def _reservoir(self, x_BD: np.ndarray) -> None:
        if self._kept is None:
            self._kept = np.zeros((0, x_BD.shape[1]), np.float32)
        room = self.keep - len(self._kept)
        self._kept = np.concatenate([self._kept, x_BD[:room]]) if room > 0 else self._kept
        first = max(room, 0)
        # row i (0-based over the whole stream) replaces a uniform slot with probability keep / (i + 1)
        slot_B = self._rng.integers(0, self.n + np.arange(first, len(x_BD)) + 1)
        for b, slot in zip(range(first, len(x_BD)), slot_B):
            if slot < self.keep:
                self._kept[slot] = x_BD[b]

    @property
    def dim(self) -> int:
        return 0 if self._sum is None else self._sum.shape[0]

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise ValueError(f"FID needs at least 2 images for a covariance, got {self.n}")
        m = self._sum / self.n
        cov = (self._outer - self.n * np.outer(m, m)) / (self.n - 1)
        return m + self._shift, cov

    def kept(self) -> np.ndarray:
        return self._kept if self._kept is not None else np.zeros((0, self.dim), np.float32)

    def merge(self, others: list["FeatureStats"]) -> "FeatureStats":
        """These statistics and `others` (disjoint shares of one source, e.g. torchrun ranks) as one: the float64
        sums are moved to this one's shift and added, so the mean and covariance equal one pass over all rows (to
        float64 rounding). Kept rows: a seeded uniform subset of the union."""
        out = FeatureStats(self.keep)
        parts = [x for x in [self, *others] if x.n]
        if not parts:
            return out
        out._shift = parts[0]._shift
        out._sum, out._outer = np.zeros_like(parts[0]._sum), np.zeros_like(parts[0]._outer)
        for x in parts:
            d = x._shift - out._shift
            out._sum += x._sum + x.n * d
            out._outer += x._outer + np.outer(d, x._sum) + np.outer(x._sum, d) + x.n * np.outer(d, d)
            out.n += x.n
        if self.keep:
            rows = np.concatenate([x.kept() for x in parts])
            pick = np.sort(np.random.default_rng(0).permutation(len(rows))[:self.keep])
            out._kept = rows[pick]
        return out


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64 via eigenvalues."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    if not all(np.isfinite(x).all() for x in (mu1, mu2, s1, s2)):
        raise ValueError("the statistics hold NaN or infinite values; FID is defined for finite mu and sigma only")
    s1 = (s1 + s1.T) / 2
    try:  # S1 = L L^T: S1 S2 is similar to L^T S2 L; a Cholesky is ~10x cheaper than S1's eigenvectors
        root1 = np.linalg.cholesky(s1)
        m = root1.T @ s2 @ root1
    except np.linalg.LinAlgError:  # singular S1 (fewer images than dimensions): its PSD square root
        root1 = _psd_sqrt(s1)
        m = root1 @ s2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def save_stats(path: str | Path, mu: np.ndarray, sigma: np.ndarray, n: int | None = None) -> None:
    """Write `mu`, `sigma` as pytorch-fid and clean-fid do (np.savez keys), atomically; `n`, the number of images,
    goes in as an extra key that their readers ignore."""
    buf = io.BytesIO()
    np.savez(buf, mu=mu, sigma=sigma, **({} if n is None else {"n": np.int64(n)}))
    atomic_write_bytes(path, buf.getvalue())


def _batches(images: Iterable[np.ndarray], mode: str, batch_size: int) -> Iterator[torch.Tensor]:
    batch = []
    for img in images:
        batch.append(resize_for_inception(img, mode))
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@dataclass
class SourceFeatures:
    """What one input gives: its statistics, the kept features (KID, precision/recall) and class probs (IS)."""

    name: str
    n: int | None         # None: a stats file that does not record it
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None   # (min(n, keep), D) float32
    probs: np.ndarray | None = None      # (n, C), only where asked and the Inception file has logits


def features_of_images(images: Iterable[np.ndarray], extractor: InceptionExtractor, name: str = "images",
                       mode: str = "clean", batch_size: int = 32, keep: int = 0, probs: bool = False,
                       total: int | None = None, progress: bool = True) -> SourceFeatures:
    """Under torchrun each rank extracts images rank, rank + K, ... and the statistics merge exactly
    (`FeatureStats.merge`); class probabilities come back in the images' order."""
    stats, probs_list = FeatureStats(keep), []
    k, r = distributed.world(), distributed.rank()
    mine = (img for i, img in enumerate(images) if i % k == r)
    shown = progress and distributed.is_main()
    with tqdm(total=None if total is None else -(-total // k), desc=f"inception {name}", unit="img",
              disable=not shown, leave=False) as bar:
        for x_B3HW in _batches(mine, mode, batch_size):
            stats.update(extractor.features(x_B3HW).numpy())
            if probs:
                probs_list.append(extractor.class_probs(x_B3HW).numpy())
            bar.update(x_B3HW.shape[0])
    if k > 1:
        everyone = distributed.gather_all((stats, np.concatenate(probs_list) if probs_list else None))
        stats = everyone[0][0].merge([s for s, _ in everyone[1:]])
        if probs:   # rank r held images r, r + K, ...: put them back in order
            parts = [p for _, p in everyone]
            order = np.empty(sum(len(p) for p in parts), np.int64)
            order[np.concatenate([np.arange(j, len(order), k) for j in range(k)])] = np.arange(len(order))
            probs_list = [np.concatenate(parts)[order]]
    if stats.n < 2:
        raise ValueError(f"{name}: FID needs at least 2 images, got {stats.n}")
    mu, sigma = stats.mean_cov()
    if stats.n < stats.dim:
        warnings.warn(f"{name}: {stats.n} images for {stats.dim}-d features: the covariance is singular and FID is "
                      f"biased upward; compare FIDs only at equal N (the field uses 50k, or 10k at least)",
                      stacklevel=2)
    return SourceFeatures(name, stats.n, mu, sigma, stats.kept() if keep else None,
                          np.concatenate(probs_list) if probs_list else None)


def features_of_source(path: str | Path, extractor: InceptionExtractor | None = None, limit: int | None = None,
                       **kw) -> SourceFeatures:
    """Features of an image folder or ADM npz, or the statistics of a stats npz (no features then)."""
    if source_kind(path) == "stats":
        if kw.get("keep") or kw.get("probs"):
            raise ImageSourceError(f"{path} holds only statistics; KID, precision/recall and IS need images")
        mu, sigma, n = load_stats(path)
        return SourceFeatures(str(path), n, mu, sigma)
    if extractor is None:
        extractor = InceptionExtractor()
    n = count_images(path)
    total = n if limit is None else min(n, limit)
    if total < n:
        warnings.warn(f"{path}: --limit reads the first {total} of {n} images in file order; a source written "
                      f"class by class then covers only its first classes", stacklevel=2)
    return features_of_images(iter_images(path, limit), extractor, name=str(path), total=total, **kw)

