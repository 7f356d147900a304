"""Diversity before and after alignment: per model, the share of distinct token sequences among k samples of one
prompt and their mean pairwise image distance (`imagecot.evaluation.diversity`), per task and overall.

Every model draws the same prompts with the same seeds and its own shipped sampling (an aligned checkpoint keeps
its base's sampling.json). Prompts: the benchmark's (measuring only; nothing here trains or tunes), the first
--per-task of each task.
Usage: python benchmarks/diversity.py --model base=zoo:ar --model dpo=runs/dpo-ar/round-0/run/final \
           --out runs/diversity-ar.json
"""

import argparse
import json
from pathlib import Path

import torch

from imagecot.evaluation.diversity import diversity
from imagecot.io_utils import atomic_write_json
from imagecot.world.benchmark import load_benchmark
from imagecot.zoo import default_sampling, load_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="ar", choices=("ar", "var", "maskgit"))
    ap.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT",
                    help="a name and a generator folder (zoo:NAME for the shipped one); repeat per model")
    ap.add_argument("--per-task", type=int, default=20, help="benchmark prompts per task")
    ap.add_argument("-k", type=int, default=8, help="samples per prompt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="JSON of every figure (resumes: models done are kept)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = dict(m.split("=", 1) for m in a.model)
    specs = load_benchmark()
    tasks = sorted({s["tag"] for s in specs}, key=[s["tag"] for s in specs].index)
    by_task = {t: [s["prompt"] for s in specs if s["tag"] == t][:a.per_task] for t in tasks}
    results = json.loads(a.out.read_text()) if a.out.is_file() else {}
    for name, ckpt in models.items():
        if name in results:
            continue
        gen = load_generator(a.generator, ckpt)
        sampling = default_sampling(ckpt, a.generator)
        per = {t: diversity(gen, prompts, a.k, sampling, seed=0) for t, prompts in by_task.items()}
        n = sum(v["conditions"] for v in per.values())
        per["overall"] = {key: sum(v[key] * v["conditions"] for v in per.values()) / n
                          for key in ("distinct_token_share", "mean_pairwise_rms")} | {"conditions": n}
        results[name] = {"checkpoint": ckpt, "tasks": per}
        atomic_write_json(a.out, results)
    print(f"distinct token sequences / mean pairwise RMS, {a.k} samples of each of {a.per_task} benchmark "
          f"prompts per task")
    cols = tasks + ["overall"]
    print("| model | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['tasks'][t]['distinct_token_share']:.3f} / "
                                          f"{r['tasks'][t]['mean_pairwise_rms']:.3f}" for t in cols) + " |")


if __name__ == "__main__":
    main()
