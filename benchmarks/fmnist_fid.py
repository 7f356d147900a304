"""Fashion-MNIST track: FID-10k, KID, precision and recall of a class-conditional generator, without and with
classifier rejection sampling, side by side (plus the acceptance rate and the compute multiplier).

Steps (each resumable: folders and stats files are reused when present):
1. Inception statistics and features of the 10k test images (the reference);
2. `--n-per-class` plain samples per class (1000 x 10 = 10k), then the same
   number through `--reject` (default: threshold 0.5 on the project's classifier);
3. FID / KID / precision / recall of both against the test set, with the
   classifier's accuracy on both sample sets (does the filter just agree with itself?), an independent
   `--judge` classifier's accuracy, and the acceptance rate of each class.
Usage: python benchmarks/fmnist_fid.py --generator ar --checkpoint zoo:fmnist-ar --tokenizer zoo:fmnist-tokenizer \
           --classifier zoo:fmnist-classifier --out out/fmnist-ar
"""

import argparse
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from imagecot.class_samples import generate_class_samples
from imagecot.classifiers.cnn import CNNClassifier
from imagecot.data.fashion_mnist import load_fashion_mnist
from imagecot.evaluation.fid import features_of_images, features_of_source, frechet_distance
from imagecot.evaluation.image_sources import iter_images
from imagecot.evaluation.inception import InceptionExtractor
from imagecot.evaluation.kid import kernel_inception_distance
from imagecot.evaluation.precision_recall import precision_recall
from imagecot.io_utils import atomic_write_bytes, atomic_write_json
from imagecot.search.rejection import AcceptanceRule, ClassifierFilter
from imagecot.zoo import default_sampling, load_generator, resolve


def reference(ext, out: Path, mode: str):
    path = out / f"test-features-{mode}-{ext.path.stem}-{str(ext.dtype).removeprefix('torch.')}.npz"
    if path.is_file():
        with np.load(path) as f:
            return f["features"], f["mu"], f["sigma"]
    imgs, _ = load_fashion_mnist("test")
    r = features_of_images(iter(imgs), ext, "fashion-mnist test", mode=mode, keep=len(imgs), total=len(imgs))
    buf = io.BytesIO()
    np.savez(buf, features=r.features, mu=r.mu, sigma=r.sigma)
    atomic_write_bytes(path, buf.getvalue())
    return r.features, r.mu, r.sigma


def sample_features(folder: Path, ext, mode: str, keep: int):
    """Inception features of a complete sample folder, cached beside it (a folder's samples never change:
    generate_class_samples refuses other settings), so another rejection rule does not redo the plain ones."""
    path = folder / f"features-{mode}-{ext.path.stem}-{str(ext.dtype).removeprefix('torch.')}.npz"
    if path.is_file():
        with np.load(path) as f:
            return SimpleNamespace(features=f["features"], mu=f["mu"], sigma=f["sigma"], n=int(f["n"]))
    r = features_of_source(folder / "samples", ext, mode=mode, keep=keep)
    buf = io.BytesIO()
    np.savez(buf, features=r.features, mu=r.mu, sigma=r.sigma, n=r.n)
    atomic_write_bytes(path, buf.getvalue())
    return r


def classifier_accuracy(clf, folder: Path, n_per_class: int) -> float:
    from imagecot.data.images import to_tensor
    correct = total = 0
    for k in range(10):
        imgs = np.stack(list(iter_images(folder / f"{k:04d}")))[:n_per_class]
        with torch.no_grad():
            pred = clf(to_tensor(imgs)).argmax(1)
        correct += int((pred == k).sum())
        total += len(imgs)
    return correct / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", choices=("ar", "var", "maskgit"), default="ar")
    ap.add_argument("--checkpoint", help="the generator's folder, or zoo:fmnist-ar")
    ap.add_argument("--tokenizer")
    ap.add_argument("--classifier", help="the rejection classifier's folder, or zoo:fmnist-classifier")
    ap.add_argument("--judge", default=None,
                    help="an independent classifier (another architecture or seed than the filter's): its accuracy "
                         "on the samples is a column the filter cannot agree with by construction")
    ap.add_argument("--skip-plain", action="store_true", help="only the rejection run (another rule)")
    ap.add_argument("--reference-only", action="store_true",
                    help="only the test set's Inception features (step 1; runs beside training)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-per-class", type=int, default=1000)
    ap.add_argument("--reject", default="threshold", choices=("threshold", "top_fraction", "tilted"))
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--mode", default="clean")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="torch", choices=("torch", "openvino"),
                    help="Inception's runtime (openvino: 2.8x faster on a CPU, the same features to 1e-7)")
    a = ap.parse_args()
    if not a.reference_only and None in (a.checkpoint, a.tokenizer, a.classifier):
        ap.error("--checkpoint, --tokenizer and --classifier are needed (or --reference-only)")
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    ext = InceptionExtractor(threads=a.threads, backend=a.backend)
    t0 = time.time()
    ref_feats, ref_mu, ref_sigma = reference(ext, a.out, a.mode)
    print(f"reference: {len(ref_feats)} test images ({time.time() - t0:.0f}s)", flush=True)
    if a.reference_only:
        return
    gen = load_generator(a.generator, a.checkpoint, a.tokenizer)
    sampling = default_sampling(a.checkpoint, a.generator)
    clf = CNNClassifier.from_pretrained(a.classifier).eval()
    judge = CNNClassifier.from_pretrained(a.judge).eval() if a.judge else None
    rule = AcceptanceRule(a.reject, threshold=a.threshold, fraction=a.fraction, alpha=a.alpha)
    param = {"threshold": a.threshold, "top_fraction": a.fraction, "tilted": a.alpha}[a.reject]
    runs = {"plain": None, f"rejection ({a.reject} {param})": (ClassifierFilter(clf), rule)}
    if a.skip_plain:
        del runs["plain"]
    results = {}
    for name, rej in runs.items():
        folder = a.out / ("plain" if rej is None else f"rejection-{a.reject}-{param}")
        t0 = time.time()
        info = generate_class_samples(gen, list(range(10)), folder, a.n_per_class, sampling, seed=0,
                                      batch_size=a.batch_size, rejection=rej,
                                      source={"checkpoint": a.checkpoint, "tokenizer": a.tokenizer,
                                              "classifier": a.classifier if rej else None})
        gen_s = time.time() - t0
        f = sample_features(folder, ext, a.mode, 10 * a.n_per_class)
        kid, kid_std = kernel_inception_distance(f.features, ref_feats)
        precision, recall = precision_recall(real=ref_feats, fake=f.features)
        results[name] = {
            "fid": frechet_distance(f.mu, f.sigma, ref_mu, ref_sigma), "kid": kid, "kid_std": kid_std,
            "precision": precision, "recall": recall, "images": f.n,
            "classifier_accuracy": classifier_accuracy(clf, folder / "samples", a.n_per_class),
            "judge_accuracy": classifier_accuracy(judge, folder / "samples", a.n_per_class) if judge else None,
            "acceptance_by_class": {k: v["accepted"] / max(1, v["drawn"])
                                    for k, v in info.get("per_class", {}).items()},
            "acceptance_rate": info.get("acceptance_rate", 1.0),
            "compute_multiplier": info.get("compute_multiplier", 1.0),
            "generation_seconds_this_run": round(gen_s, 1)}
        print(name, json.dumps(results[name]), flush=True)
    prov = {name: json.loads(f.read_text()) for name, path in (("generator", a.checkpoint), ("tokenizer", a.tokenizer),
                                                                 ("classifier", a.classifier), ("judge", a.judge))
            if path and (f := resolve(path) / "provenance.json").is_file()}
    report = {"generator": a.generator, "checkpoint": str(a.checkpoint), "sampling": vars(sampling),
              "classifier": a.classifier, "judge": a.judge,
              "provenance": prov,
              "rule": vars(rule), "mode": a.mode, "reference": "fashion-mnist test (10k)", "results": results}
    atomic_write_json(a.out / f"fid_report-{a.reject}-{param}.json", report)
    print("clf acc: the filter's own classifier on the samples (after rejection it agrees with itself by "
          "construction; on plain samples it measures class fidelity)")
    if judge:
        print(f"judge acc: {a.judge}, an independent classifier, on the same samples")
    cols = ("FID", "KID", "prec", "recall", "clf acc", "judge acc", "accept", "compute")
    print(f"{'':24s} " + " ".join(f"{c:>9s}" for c in cols))
    for name, r in results.items():
        judged = "-" if r["judge_accuracy"] is None else f"{r['judge_accuracy']:.3f}"
        print(f"{name:24s} {r['fid']:9.3f} {r['kid']:9.5f} {r['precision']:9.3f} {r['recall']:9.3f} "
              f"{r['classifier_accuracy']:9.3f} {judged:>9s} {r['acceptance_rate']:9.3f} "
              f"{r['compute_multiplier']:8.2f}x")
        if r["acceptance_by_class"]:
            print(f"{'':24s} acceptance by class: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["acceptance_by_class"].items())))


if __name__ == "__main__":
    main()
