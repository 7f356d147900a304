"""AR sampling throughput with and without the KV cache.

Both modes sample the same batch of benchmark prompts with the same seed and
the generator's shipped sampling settings; they run interleaved (cached,
uncached, cached, uncached, ...) after one warm-up each, so drifts in machine
load hit both alike. Reports the median images/s of each mode, their ratio,
the token-forwards per image each spends, and whether both made the same
tokens (they consume the same pre-drawn uniforms, so they should, up to float
ties).

    python benchmarks/sampling_speed.py                       # the zoo's AR generator, batch 64
    python benchmarks/sampling_speed.py --checkpoint runs/ar/final --tokenizer runs/tokenizer/final
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example:\n  python benchmarks/sampling_speed.py --repeats 5 "
                                        "--json out/sampling_speed.json")
    ap.add_argument("--checkpoint", type=Path, default=None, help="AR generator folder (default: the zoo's)")
    ap.add_argument("--tokenizer", type=Path, default=None, help="VQ tokenizer folder (default: the zoo's)")
    ap.add_argument("--batch-size", type=int, default=64, help="images per generate() call")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each mode (after one warm-up each)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0, help="picks the prompts and seeds the sampling")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1:
        ap.error("--batch-size and --repeats must be >= 1")

    from imagecot.world.benchmark import load_benchmark
    from imagecot.zoo import default_sampling, load_ar

    torch.set_num_threads(args.threads)
    gen = load_ar(args.checkpoint, args.tokenizer, args.device)
    sampling = default_sampling(args.checkpoint)
    specs = load_benchmark()
    rng = random.Random(args.seed)
    picked = rng.sample(specs, args.batch_size) if args.batch_size <= len(specs) else \
        [rng.choice(specs) for _ in range(args.batch_size)]
    prompts = [s["prompt"] for s in picked]
    B = len(prompts)

    def run(use_cache: bool):
        return gen.generate(prompts, sampling, seed=args.seed, use_cache=use_cache)

    modes = {"cached": True, "uncached": False}
    outputs = {name: run(flag) for name, flag in modes.items()}  # warm-up, one each
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, flag in modes.items():  # interleaved: cached, uncached, cached, uncached, ...
            outputs[name], dt = timed(lambda: run(flag))
            seconds[name].append(dt)

    rows = {}
    for name in modes:
        med = statistics.median(seconds[name])
        c = outputs[name].compute
        rows[name] = {"median_s": med, "images_per_s": B / med, "seconds": seconds[name],
                      "token_forwards_per_image": c.token_forwards / B,
                      "forward_passes": c.forward_passes}
    speedup = rows["cached"]["images_per_s"] / rows["uncached"]["images_per_s"]
    same = (outputs["cached"].tokens == outputs["uncached"].tokens).all(dim=1).float().mean().item()
    n_params = sum(p.numel() for p in gen.model.parameters())

    result = {
        "command": " ".join(["python", "benchmarks/sampling_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "checkpoint": str(args.checkpoint or "zoo"), "tokenizer": str(args.tokenizer or "zoo"),
        "model_params": n_params, "model_config": vars(gen.model.config),
        "sampling": vars(sampling), "batch_size": B, "repeats": args.repeats, "threads": args.threads,
        "device": args.device, "cpu": cpu_name(), "torch": torch.__version__,
        "modes": rows, "speedup_cached_over_uncached": speedup,
        "token_forward_ratio_uncached_over_cached":
            rows["uncached"]["token_forwards_per_image"] / rows["cached"]["token_forwards_per_image"],
        "same_tokens_fraction": same,
    }

    print(f"AR sampling, batch {B}, {args.threads} thread(s), {result['cpu']}, torch {torch.__version__}")
    print(f"model {n_params / 1e6:.2f}M params ({result['checkpoint']}), sampling {sampling}")
    print(f"median of {args.repeats} interleaved runs after one warm-up each\n")
    print("| mode | images/s | s / batch | token-forwards / image | forward passes / batch |")
    print("|---|---:|---:|---:|---:|")
    for name in modes:
        r = rows[name]
        print(f"| {name} | {r['images_per_s']:.1f} | {r['median_s']:.3f} | "
              f"{r['token_forwards_per_image']:,.0f} | {r['forward_passes']} |")
    print(f"\nKV cache speed-up: {speedup:.2f}x images/s "
          f"({result['token_forward_ratio_uncached_over_cached']:.1f}x fewer token-forwards); "
          f"identical tokens in {same:.0%} of images")
    print(f"command: {result['command']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
