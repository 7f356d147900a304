"""FID's two costs on CPU, each measured in one run: the Fréchet distance and the Inception features.

1. Fréchet distance at D=2048 from N=10k feature rows: ours (float64 eigenvalues)
   vs pytorch-fid's formula (scipy.linalg.sqrtm of the product), interleaved,
   median of each, their ratio and relative difference.
2. Feature extraction images/s of the shipped Inception file at one batch size:
   the plain TorchScript call (fp32, as loaded) vs each faster setting
   (freeze + optimize_for_inference, channels-last, bf16), interleaved; and the
   FID each setting gives on the same two image sets (`--fid-images` per side,
   Fashion-MNIST train vs test if present, else two shapes-world sets), so a
   faster mode is only recommended if its FID stays within 0.1% of fp32's.
Usage: python benchmarks/fid_speed.py [--skip-frechet] [--skip-features] [--json out.json]
"""

import argparse
import json
import platform
import statistics
import time

import numpy as np
import scipy.linalg
import torch

from imagecot.evaluation.fid import features_of_images, frechet_distance
from imagecot.evaluation.inception import InceptionExtractor
from imagecot.evaluation.resize import resize_for_inception


def pytorch_fid_formula(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's calculate_frechet_distance, step by step (sqrtm of the product, eps retry, real part)."""
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fake_features(rng, n, d):
    """Non-negative, correlated, heavy-tailed rows like pool3 features (ReLU of mixed Gaussians)."""
    z = rng.standard_normal((n, 256)).astype(np.float32)
    mix = rng.standard_normal((256, d)).astype(np.float32) / 16
    return np.maximum(z @ mix + rng.standard_normal((n, d)).astype(np.float32) * 0.3, 0)


def bench_frechet(n, d, repeats):
    rng = np.random.default_rng(0)
    stats = []
    for shift in (0.0, 0.05):
        x = fake_features(rng, n, d).astype(np.float64) + shift
        stats.append((x.mean(0), np.cov(x, rowvar=False)))
    (m1, s1), (m2, s2) = stats
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = frechet_distance(m1, s1, m2, s2)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = pytorch_fid_formula(m1, s1, m2, s2)
        t_ref.append(time.perf_counter() - t0)
    r = {"n": n, "dim": d, "fid_ours": ours, "fid_sqrtm": ref, "rel_diff": abs(ours - ref) / abs(ref),
         "sec_ours": statistics.median(t_ours), "sec_sqrtm": statistics.median(t_ref)}
    r["speedup"] = r["sec_sqrtm"] / r["sec_ours"]
    print(f"Fréchet distance D={d}, N={n}: ours {r['sec_ours']:.2f}s, sqrtm {r['sec_sqrtm']:.2f}s "
          f"-> {r['speedup']:.1f}x; FID {ours:.6f} vs {ref:.6f} (rel diff {r['rel_diff']:.1e})")
    return r


def image_sets(n):
    from pathlib import Path
    root = Path("/usr/share/datasets/fashion-mnist")
    if (root / "t10k-images-idx3-ubyte.gz").exists():
        from imagecot.data.fashion_mnist import load_fashion_mnist
        a, _ = load_fashion_mnist("train", root)
        b, _ = load_fashion_mnist("test", root)
        return "fashion-mnist train vs test", a[:n], b[:n]
    from imagecot.data.shapes import ShapesStream
    s = ShapesStream(seed=0, resolution=32)
    other = ShapesStream(seed=1, resolution=32)
    return "shapes world, two streams", s.batch(0, n).images_BHW3, other.batch(0, n).images_BHW3


def bench_features(batch_size, repeats, fid_images, threads):
    settings = {
        "plain": dict(freeze=False, channels_last=False, bf16=False),
        "frozen": dict(freeze=True, channels_last=False, bf16=False),
        "frozen+channels_last": dict(freeze=True, channels_last=True, bf16=False),
        "frozen+channels_last+bf16": dict(freeze=True, channels_last=True, bf16=True),
    }
    try:
        import openvino  # noqa: F401
        settings["openvino (float32)"] = dict(backend="openvino")
    except ImportError:
        print("openvino is not installed: its row is left out (pip install openvino)")
    exts = {k: InceptionExtractor(threads=threads, **v) for k, v in settings.items()}
    rng = np.random.default_rng(0)
    x = torch.stack([resize_for_inception(im) for im in rng.integers(0, 256, (batch_size, 32, 32, 3), np.uint8)])
    times = {k: [] for k in exts}
    for rep in range(repeats + 1):
        for k, e in exts.items():
            t0 = time.perf_counter()
            e.features(x)
            if rep:  # the first round warms up (TorchScript profiling runs, allocator)
                times[k].append(time.perf_counter() - t0)
    out = {"batch_size": batch_size, "threads": torch.get_num_threads(), "settings": {}}
    base = statistics.median(times["plain"])
    name, a, b = image_sets(fid_images)
    out["fid_sets"] = f"{name}, {fid_images} per side, clean resize"
    fids = {}
    for k, e in exts.items():
        fa = features_of_images(a, e, "a", progress=False)
        fb = features_of_images(b, e, "b", progress=False)
        fids[k] = frechet_distance(fa.mu, fa.sigma, fb.mu, fb.sigma)
    for k in exts:
        t = statistics.median(times[k])
        rel = abs(fids[k] - fids["plain"]) / fids["plain"]
        out["settings"][k] = {"img_per_s": batch_size / t, "speedup": base / t, "fid": fids[k], "fid_rel_diff": rel}
        print(f"{k:28s} {batch_size / t:6.2f} img/s  {base / t:4.2f}x  FID {fids[k]:.4f} (rel diff {rel:.1e})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--fid-images", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-frechet", action="store_true")
    ap.add_argument("--skip-features", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    if not a.skip_frechet:
        res["frechet"] = bench_frechet(a.n, a.dim, a.repeats)
    if not a.skip_features:
        res["features"] = bench_features(a.batch_size, a.repeats, a.fid_images, a.threads)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
