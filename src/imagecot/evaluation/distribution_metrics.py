"""FID, KID, precision/recall and Inception Score of two inputs in one pass over each."""

from __future__ import annotations

from pathlib import Path

from .fid import SourceFeatures, features_of_source, frechet_distance
from .image_sources import source_kind
from .inception import InceptionExtractor
from .inception_score import inception_score
from .kid import SUBSET_SIZE, kernel_inception_distance
from .precision_recall import precision_recall


def compare_sources(a: str | Path, b: str | Path, extractor: InceptionExtractor | None = None,
                    mode: str = "clean", batch_size: int = 32, kid: bool = True, pr: bool = True,
                    isc: bool = False, keep: int = 10_000, limit: int | None = None,
                    progress: bool = True) -> dict:
    """Metrics of `a` (generated) against `b` (reference). Stats-only inputs give FID alone.

    KID and precision/recall use at most `keep` features per side (a seeded
    uniform sample of each, so class-ordered inputs keep every class); IS is
    reported for `a` where the Inception file has a classifier, and as
    unavailable (None, with the reason) where it has not.
    """
    kinds = source_kind(a), source_kind(b)
    images = tuple(k != "stats" for k in kinds)
    if all(not x for x in images):
        extractor = None
    elif extractor is None:
        extractor = InceptionExtractor()
    want_feats = (kid or pr) and all(images)
    out: dict = {"mode": mode, "inception": str(extractor.path) if extractor else None}
    want_is = isc and images[0] and extractor.has_logits
    fa: SourceFeatures = features_of_source(a, extractor, limit=limit, mode=mode, batch_size=batch_size,
                                            keep=keep if want_feats else 0, probs=want_is, progress=progress)
    fb: SourceFeatures = features_of_source(b, extractor, limit=limit, mode=mode, batch_size=batch_size,
                                            keep=keep if want_feats else 0, progress=progress)
    out.update(n_a="unknown" if fa.n is None else fa.n, n_b="unknown" if fb.n is None else fb.n,
               fid=frechet_distance(fa.mu, fa.sigma, fb.mu, fb.sigma))
    if want_feats:
        if kid:
            out["kid"], out["kid_std"] = kernel_inception_distance(fa.features, fb.features)
            if out["kid_std"] is None:
                out["kid_std_unavailable"] = (f"both inputs have at most {SUBSET_SIZE} images, so every KID subset is "
                                              "the whole set and the subsets cannot vary")
        if pr:
            out["precision"], out["recall"] = precision_recall(real=fb.features, fake=fa.features)
    elif kid or pr:
        out["kid_pr_unavailable"] = "KID and precision/recall need images on both sides, not stats files"
    if want_is:
        out["inception_score"], out["inception_score_std"] = inception_score(fa.probs)
    elif isc:
        out["inception_score"] = None
        out["inception_score_unavailable"] = (
            "the Inception file has no classifier layer (fid-helper's default_1.pt); pass NVIDIA's "
            "inception-2015-12-05.pt" if extractor is not None and not extractor.has_logits
            else "Inception Score needs images for the first input")
    return out
