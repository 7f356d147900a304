"""Sampling images/s of AR, VAR and MaskGIT at one batch size, interleaved in one run, and their ratios.

Each generator runs `--repeats` rounds after one warm-up, in turn (AR, VAR,
MaskGIT, AR, ...), on the same benchmark prompts with its sampling settings
(sampling.json beside a checkpoint, or the zoo's); the median images/s of each
and its ratio to the first are printed, with token-forwards per image (the
compute unit every strategy reports), and with `--latency` the median seconds
for one image at batch 1, measured in the same interleaved rounds.
Usage: python benchmarks/generator_speed.py [--batch-size 64] [--repeats 3] [--latency] [--json out.json]
       python benchmarks/generator_speed.py --model ar64=ar,runs/w64/ar/final,runs/w64/tok/final \
           --model var64=var,runs/w64/var/final,runs/w64/msvq/final --latency
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
    ap.add_argument("--generators", nargs="+", default=["ar", "var", "maskgit"], help="the zoo's generators")
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=KIND[,CHECKPOINT[,TOKENIZER]]",
                    help="a generator from checkpoint folders instead of --generators (repeat; the first is the "
                         "reference of the ratios)")
    ap.add_argument("--latency", action="store_true", help="also the seconds for one image at batch 1")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (timed with the device synchronised)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    def clock() -> float:
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter()

    models = [m.split("=", 1) for m in a.model] or [[k, k] for k in a.generators]
    gens = {}
    for label, spec in models:
        kind, ckpt, tok = (spec.split(",") + [None, None])[:3]
        gens[label] = (load_generator(kind, ckpt, tok, device=a.device), default_sampling(ckpt, kind))
    first = next(iter(gens))
    specs = load_benchmark()
    prompts = [specs[(i * 7) % len(specs)]["prompt"] for i in range(a.batch_size)]
    times, latency = {k: [] for k in gens}, {k: [] for k in gens}
    forwards = {}
    for rep in range(a.repeats + 1):
        for k, (gen, s) in gens.items():
            t0 = clock()
            out = gen.generate(prompts, s, seed=rep)
            dt = clock() - t0
            if a.latency:
                t1 = clock()
                gen.generate(prompts[:1], s, seed=rep)
                if rep:
                    latency[k].append(clock() - t1)
            if rep:
                times[k].append(a.batch_size / dt)
            forwards[k] = out.compute.token_forwards / a.batch_size
    med = {k: statistics.median(v) for k, v in times.items()}
    lat = {k: statistics.median(v) for k, v in latency.items() if v}
    where = torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or platform.machine()
    print(f"batch {a.batch_size}, {a.repeats} interleaved rounds, {a.threads} threads, {where}, "
          f"torch {torch.__version__}")
    print(f"| generator | params | steps | images/s (median) | vs {first} | token-forwards/image |"
          + (" latency at batch 1 (s) |" if lat else ""))
    print("|---|---|---|---|---|---|" + ("---|" if lat else ""))
    for k, (gen, s) in gens.items():
        n_params = sum(p.numel() for p in gen.model.parameters()) / 1e6
        steps = gen.start(prompts[:1], s).num_steps
        print(f"| {k} | {n_params:.1f}M | {steps} | {med[k]:.1f} | {med[k] / med[first]:.2f}x | {forwards[k]:.0f} |"
              + (f" {lat[k]:.3f} |" if lat else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"images_per_s": med, "all": times, "latency_s": lat, "all_latency": latency,
                       "token_forwards_per_image": forwards, "batch_size": a.batch_size, "repeats": a.repeats,
                       "threads": a.threads, "device": where}, f, indent=2)


if __name__ == "__main__":
    main()
