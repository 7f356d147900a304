"""Tokenizer quality (VQ or multi-scale VQ): PSNR, codebook usage, evaluator accuracy on reconstructions.

Renders a ground-truth scene for every benchmark prompt (k per prompt), encodes
and decodes it, and scores the reconstructions with the GenEval-style
evaluator. Usage: python benchmarks/tokenizer_quality.py [--tokenizer DIR] [--per-prompt 2]
"""

import argparse
import json
import random

import numpy as np
import torch

from imagecot.data.images import to_tensor, to_uint8
from imagecot.evaluation.geneval import format_summary, score_images
from imagecot.world import sample_scene
from imagecot.world.benchmark import load_benchmark
from imagecot.zoo import load_tokenizer


def load_any_tokenizer(path):
    """The zoo's VQ tokenizer by default; a VQ or multi-scale VQ folder by its config's model_type."""
    if path is None:
        return load_tokenizer()
    from pathlib import Path

    from imagecot.tokenizers import MSVQModel, VQModel
    kind = json.loads((Path(path) / "config.json").read_text()).get("model_type")
    return (MSVQModel if kind == "msvq" else VQModel).from_pretrained(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vq = load_any_tokenizer(a.tokenizer)
    rng = random.Random(a.seed)
    specs = [s for s in load_benchmark() for _ in range(a.per_prompt)]
    imgs = np.stack([sample_scene(s, rng, vq.config.resolution).render() for s in specs])
    recon, codes = [], []
    for i in range(0, len(imgs), 256):
        idx = vq.encode(to_tensor(imgs[i:i + 256]))
        codes.append(torch.cat([t.flatten() for t in idx]) if isinstance(idx, list) else idx.flatten())
        recon.append(to_uint8(vq.decode(idx)))
    recon = np.concatenate(recon)
    mse = ((recon.astype(np.float64) - imgs) ** 2).mean(axis=(1, 2, 3))
    psnr = float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))))
    used = torch.cat(codes).unique().numel()
    summary = score_images(specs, list(recon), n_boot=200)
    print(format_summary(summary))
    print(f"images {len(imgs)}  PSNR {psnr:.2f} dB  codebook usage {used}/{vq.vocab_size} "
          f"({used / vq.vocab_size:.1%})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"psnr": psnr, "codes_used": used, "codebook_size": vq.vocab_size, "summary": summary}, f,
                      indent=2)


if __name__ == "__main__":
    main()
