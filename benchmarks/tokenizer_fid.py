"""The floor of every token model on the Fashion-MNIST track: FID-10k / KID / precision / recall of the tokenizer's
own reconstructions of the 10k test images against the test images (the same features and resizer as
benchmarks/fmnist_fid.py). A generator whose samples decode through this tokenizer cannot score below it.
Usage: python benchmarks/tokenizer_fid.py --tokenizer zoo:fmnist-tokenizer --reference runs/fmnist/test-features.npz
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from imagecot.data.fashion_mnist import load_fashion_mnist
from imagecot.data.images import to_tensor, to_uint8
from imagecot.evaluation.fid import features_of_images, frechet_distance
from imagecot.evaluation.inception import InceptionExtractor
from imagecot.evaluation.kid import kernel_inception_distance
from imagecot.evaluation.precision_recall import precision_recall
from imagecot.generators.registry import load_tokenizer
from imagecot.hub import resolve
from imagecot.tokenizers.msvq import MSVQModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default="zoo:fmnist-tokenizer")
    ap.add_argument("--reference", type=Path, required=True,
                    help="the test set's features (.npz with features, mu, sigma) that fmnist_fid.py cached")
    ap.add_argument("--backend", default="torch", choices=("torch", "openvino"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with np.load(a.reference) as f:
        ref_feats, ref_mu, ref_sigma = f["features"], f["mu"], f["sigma"]
    path = resolve(a.tokenizer)   # a VQ (AR's) or a multi-scale VQ (VAR's): both encode and decode
    is_msvq = json.loads((path / "config.json").read_text()).get("model_type") == "msvq"
    vq = (MSVQModel.from_pretrained(path) if is_msvq else load_tokenizer(path)).eval()
    imgs, _ = load_fashion_mnist("test")
    recon = []
    with torch.no_grad():
        for i in range(0, len(imgs), 500):
            recon.append(to_uint8(vq.decode(vq.encode(to_tensor(imgs[i:i + 500])))))
    recon = np.concatenate(recon)
    psnr = float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(
        ((recon.astype(np.float64) - imgs) ** 2).mean(axis=(1, 2, 3)), 1e-10))))
    ext = InceptionExtractor(threads=a.threads, backend=a.backend)
    r = features_of_images(iter(recon), ext, "reconstructions", keep=len(recon), total=len(recon))
    kid, kid_std = kernel_inception_distance(r.features, ref_feats)
    precision, recall = precision_recall(real=ref_feats, fake=r.features)
    print(json.dumps({"tokenizer": a.tokenizer, "images": len(recon), "psnr_db": round(psnr, 2),
                      "fid": frechet_distance(r.mu, r.sigma, ref_mu, ref_sigma), "kid": kid, "kid_std": kid_std,
                      "precision": precision, "recall": recall}))


if __name__ == "__main__":
    main()
