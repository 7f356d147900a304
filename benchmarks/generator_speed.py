"""Sampling images/s of AR, VAR and MaskGIT at one batch size, interleaved in one run, and their ratios.

Each generator runs `--repeats` rounds after one warm-up, in turn (AR, VAR,
MaskGIT, AR, ...), on the same benchmark prompts with its zoo sampling
settings; the median images/s of each and VAR/AR, MaskGIT/AR are printed, with
token-forwards per image (the compute unit every strategy reports).
Usage: python benchmarks/generator_speed.py [--batch-size 64] [--repeats 3] [--json out.json]
"""

import argparse
import json
import platform
import statistics
import time

import torch

from imagecot.world.benchmark import load_benchmark
from imagecot.zoo import default_sampling, load_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generators", nargs="+", default=["ar", "var", "maskgit"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gens = {k: (load_generator(k), default_sampling(kind=k)) for k in a.generators}
    specs = load_benchmark()
    prompts = [specs[(i * 7) % len(specs)]["prompt"] for i in range(a.batch_size)]
    times = {k: [] for k in gens}
    forwards = {}
    for rep in range(a.repeats + 1):
        for k, (gen, s) in gens.items():
            t0 = time.perf_counter()
            out = gen.generate(prompts, s, seed=rep)
            dt = time.perf_counter() - t0
            if rep:
                times[k].append(a.batch_size / dt)
            forwards[k] = out.compute.token_forwards / a.batch_size
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"batch {a.batch_size}, {a.repeats} interleaved rounds, {a.threads} threads, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}")
    print("| generator | params | steps | images/s (median) | vs AR | token-forwards/image |")
    print("|---|---|---|---|---|---|")
    for k, (gen, s) in gens.items():
        n_params = sum(p.numel() for p in gen.model.parameters()) / 1e6
        steps = gen.start(prompts[:1], s).num_steps
        ratio = f"{med[k] / med['ar']:.2f}x" if "ar" in med else "-"
        print(f"| {k} | {n_params:.1f}M | {steps} | {med[k]:.1f} | {ratio} | {forwards[k]:.0f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"images_per_s": med, "all": times, "token_forwards_per_image": forwards,
                       "batch_size": a.batch_size, "repeats": a.repeats, "threads": a.threads}, f, indent=2)


if __name__ == "__main__":
    main()
