"""`imagecot demo`: a few prompts through the shipped generator, scored by the evaluator."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEMO_PROMPTS = [
    "a circle", "a triangle and a square", "three diamonds", "a red circle",
    "a square left of a triangle", "a blue diamond and a yellow circle",
]


def folder_images(folder: Path, prompts: int, per_prompt: int) -> np.ndarray:
    """uint8 (P, J, H, W, 3): the first J images of each of P prompts in a GenEval-layout folder."""
    return np.stack([[np.array(Image.open(folder / f"{i:05d}" / "samples" / f"{j:04d}.png").convert("RGB"))
                      for j in range(per_prompt)] for i in range(prompts)])


def save_demo_grid(out: Path, specs: list[dict], images_PJHW3: np.ndarray) -> None:
    """grid.png: one row per prompt, labelled with it, each image marked with the evaluator's verdict
    (results.jsonl, written by `score_folder`)."""
    from .labelled_grid import Mark, save_labelled_grid
    from .pipeline import read_jsonl
    P, J = images_PJHW3.shape[:2]
    verdicts = {r["filename"]: r["correct"] for r in read_jsonl(out / "results.jsonl")}
    marks = [Mark(verdicts.get(f"{i:05d}/samples/{j:04d}.png")) for i in range(P) for j in range(J)]
    save_labelled_grid(out / "grid.png", images_PJHW3.reshape(-1, *images_PJHW3.shape[2:]), J,
                       row_labels=[s["prompt"] for s in specs], image_marks=marks,
                       title=f"the shipped AR generator, {J} images per prompt; green check / red cross: the "
                             "evaluator's verdict")


def verifier_agreement(verifier, out: Path, specs: list[dict], images_NHW3: np.ndarray, per_prompt: int) -> str:
    """How often the verifier's yes/no (P(aligned) >= 0.5 on the final image) agrees with the evaluator's verdict
    (results.jsonl) on the demo's images, overall and on the correct and the wrong ones."""
    from .pipeline import read_jsonl
    verdicts = {r["filename"]: r["correct"] for r in read_jsonl(out / "results.jsonl")}
    correct = np.array([verdicts[f"{i:05d}/samples/{j:04d}.png"] for i in range(len(specs)) for j in range(per_prompt)])
    images = torch.from_numpy(images_NHW3).permute(0, 3, 1, 2).float() / 127.5 - 1
    yes = verifier(images, [s["prompt"] for s in specs for _ in range(per_prompt)]).numpy() >= 0.5
    agree = yes == correct
    from .evaluation.geneval import mean_ci95
    lo, hi = mean_ci95(agree)
    return (f"the verifier's yes/no agrees with the evaluator on {agree.sum()} of {len(agree)} images "
            f"({agree.mean():.0%}, 95% CI [{lo:.0%}, {hi:.0%}]): on {agree[correct].sum()}/{correct.sum()} correct "
            f"ones and {agree[~correct].sum()}/{(~correct).sum()} wrong ones")


def run_demo(out: str | Path, images_per_prompt: int = 8, seed: int = 0, compare_images: int = 4,
             candidates: int = 8) -> int:
    from .evaluation.geneval import format_summary, score_folder
    from .pipeline import generate_folder
    from .world import parse_prompt
    from .zoo import default_sampling, load_ar, load_verifier, zoo_path

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
    base_PJHW3 = folder_images(out, len(specs), images_per_prompt)
    save_demo_grid(out, specs, base_PJHW3)
    print(format_summary(summary))
    print(f"\n{info['generated_now']} images in {time.time() - t0:.1f}s "
          f"({info['compute']['token_forwards']:,} token-forwards).")
    print(verifier_agreement(verifier, out, specs, base_PJHW3.reshape(-1, *base_PJHW3.shape[2:]), images_per_prompt))

    from .demo_search import compare_base_and_parm_plus_plus, print_comparison
    t1 = time.time()
    aligned_PJHW3 = None
    if (zoo_path("ar-dpo") / "config.json").is_file():   # the DPO-aligned AR: the same seeds, then PARM++ on it
        gen, sampling = load_ar("zoo:ar-dpo"), default_sampling("zoo:ar-dpo")
        generate_folder(gen, specs, out / "aligned", compare_images, sampling, seed)
        aligned_PJHW3 = folder_images(out / "aligned", len(specs), compare_images)
    result = compare_base_and_parm_plus_plus(gen, sampling, specs, base_PJHW3[:, :compare_images], verifier,
                                             out, candidates, seed=seed, aligned_PJHW3=aligned_PJHW3)
    print_comparison(result, candidates)
    print(f"  ({time.time() - t1:.1f}s)")
    print(f"\nlook at: {out / 'grid.png'} (one row per prompt: {'; '.join(DEMO_PROMPTS)})")
    print(f"         {out / 'results.jsonl'} (per image: correct or not, and why)")
    print(f"         {out / 'compare.png'} (per prompt: {compare_images} base images | "
          f"{'the DPO-aligned AR | the aligned AR + PARM++' if aligned_PJHW3 is not None else 'PARM++'})")
    print(f"         {out / 'compare.json'} (every verdict, reflection and correction)")
    try:
        from .report.page import build_report
        build_report([out], out / "report.html", "imagecot demo")
        print(f"         {out / 'report.html'} (all of it on one page; it opens offline)")
    except ImportError as e:   # matplotlib is the `plots` extra
        print(f"(no report.html: {e})")
    print("next:    imagecot geneval generate --out out/geneval && imagecot geneval score out/geneval")
    return 0
