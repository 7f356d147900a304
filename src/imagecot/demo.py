"""`imagecot demo`: a few prompts through the shipped generator, scored by the evaluator."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

DEMO_PROMPTS = [
    "a circle", "a triangle and a square", "three diamonds", "a red circle",
    "a square left of a triangle", "a blue diamond and a yellow circle",
]


def run_demo(out: str | Path, images_per_prompt: int = 8, seed: int = 0, compare_images: int = 4,
             candidates: int = 8) -> int:
    from .data.images import save_grid_png
    from .evaluation.geneval import format_summary, score_folder
    from .pipeline import generate_folder
    from .world import parse_prompt
    from .zoo import default_sampling, load_ar, load_verifier

    if not 1 <= compare_images <= images_per_prompt:
        raise ValueError(f"compare_images must be in 1..{images_per_prompt} (images per prompt), got {compare_images}")
    out = Path(out)
    t0 = time.time()
    gen, sampling = load_ar(), default_sampling()
    verifier = load_verifier("parm", generator="ar")   # before any work: a missing zoo entry fails at once
    specs = [parse_prompt(p) for p in DEMO_PROMPTS]
    print(f"imagecot demo: {len(specs)} prompts x {images_per_prompt} images with the shipped AR generator "
          f"({sum(p.numel() for p in gen.model.parameters()) / 1e6:.1f}M parameters), {sampling}")
    info = generate_folder(gen, specs, out, images_per_prompt, sampling, seed)
    summary = score_folder(out, n_boot=200)
    rows = []
    for i, spec in enumerate(specs):
        imgs = np.stack([np.array(Image.open(out / f"{i:05d}" / "samples" / f"{j:04d}.png").convert("RGB"))
                         for j in range(images_per_prompt)])
        rows.append(imgs)
    save_grid_png(out / "grid.png", np.concatenate(rows), cols=images_per_prompt)
    print(format_summary(summary))
    print(f"\n{info['generated_now']} images in {time.time() - t0:.1f}s "
          f"({info['compute']['token_forwards']:,} token-forwards).")

    from .demo_search import compare_base_and_parm_plus_plus, print_comparison
    t1 = time.time()
    result = compare_base_and_parm_plus_plus(gen, sampling, specs, np.stack(rows)[:, :compare_images], verifier,
                                             out, candidates, seed=seed)
    print_comparison(result, candidates)
    print(f"  ({time.time() - t1:.1f}s)")
    print(f"\nlook at: {out / 'grid.png'} (one row per prompt: {'; '.join(DEMO_PROMPTS)})")
    print(f"         {out / 'results.jsonl'} (per image: correct or not, and why)")
    print(f"         {out / 'compare.png'} (per prompt: {compare_images} base images | the same outputs by PARM++)")
    print(f"         {out / 'compare.json'} (every verdict, reflection and correction)")
    print("next:    imagecot geneval generate --out out/geneval && imagecot geneval score out/geneval")
    return 0
