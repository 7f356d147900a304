"""Choose DPO's learning rate and beta on training prompts only (never the benchmark), from one preference folder.

For each (lr, beta): a DPO run on the preference pairs (`imagecot.align.dpo.train_dpo`), then the aligned model's
accuracy on validation prompts drawn from the training grammar (`training_specs(n, seed=--val-seed)`, training
seeds, so neither a benchmark seed nor, for color_attr, a benchmark string), judged by the evaluator, per task,
with the base model's beside it. Prints a table and writes `<out>/sweep.json`; the best setting by validation
accuracy is the one `make align` uses.
Usage: python benchmarks/dpo_sweep.py --preferences runs/align/prefs-ar --out runs/align/sweep-ar --lr 1e-5 1e-4 3e-4
"""

import argparse
import itertools
import json
from pathlib import Path

import torch

from imagecot.align.dpo import DPOConfig, train_dpo
from imagecot.align.preferences import build_pairs, load_preferences
from imagecot.data.images import to_uint8
from imagecot.evaluation.geneval import score_images
from imagecot.io_utils import atomic_write_json
from imagecot.seeds import training_seed
from imagecot.train.loop import TrainConfig
from imagecot.verifiers.prompts import training_specs
from imagecot.zoo import default_sampling, load_generator


def validation_accuracy(gen, specs, sampling, per_prompt: int, seed: int, batch_size: int = 64) -> dict:
    images = []
    for s in range(0, len(specs), batch_size // per_prompt):
        chunk = specs[s:s + batch_size // per_prompt]
        out = gen.generate([x["prompt"] for x in chunk for _ in range(per_prompt)], sampling,
                           seed=[training_seed(seed, s + i, j) for i in range(len(chunk)) for j in range(per_prompt)])
        images.extend(to_uint8(out.images))
    summ = score_images([x for x in specs for _ in range(per_prompt)], images, n_boot=200)
    return {"overall": summ["overall"]["accuracy"], "ci95": summ["overall"]["ci95"],
            "tasks": {t: v["accuracy"] for t, v in summ["tasks"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="ar")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--preferences", type=Path, required=True)
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-5, 1e-4, 3e-4])
    ap.add_argument("--beta", type=float, nargs="+", default=[0.1])
    ap.add_argument("--sft-weight", type=float, nargs="+", default=[0.0], help="RPO's NLL weight on the winners")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--pairs-per-prompt", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--val-prompts", type=int, default=600)
    ap.add_argument("--val-per-prompt", type=int, default=2)
    ap.add_argument("--val-seed", type=int, default=777)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sampling = default_sampling(a.checkpoint, a.generator)
    specs = training_specs(a.val_prompts, seed=a.val_seed)
    pairs = build_pairs(load_preferences(a.preferences), a.pairs_per_prompt)
    results_file = a.out / "sweep.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    if "base" not in results:
        results["base"] = validation_accuracy(load_generator(a.generator, a.checkpoint, a.tokenizer), specs,
                                              sampling, a.val_per_prompt, a.val_seed)
        atomic_write_json(results_file, results)
    print(f"base: {results['base']['overall']:.3f} {results['base']['tasks']}")
    for lr, beta, sft in itertools.product(a.lr, a.beta, a.sft_weight):
        key = f"lr={lr:g},beta={beta:g}" + (f",sft={sft:g}" if sft else "") + \
            (f",epochs={a.epochs:g},pairs={a.pairs_per_prompt}" if (a.epochs, a.pairs_per_prompt) != (1, 1) else "")
        if key not in results:
            gen = load_generator(a.generator, a.checkpoint, a.tokenizer)
            cfg = TrainConfig(batch_size=a.batch_size, lr=lr, warmup=10, min_lr_ratio=1.0, log_every=10,
                              ckpt_every=1000)
            dpo = DPOConfig(beta=beta, epochs=a.epochs, pairs_per_prompt=a.pairs_per_prompt, sft_weight=sft)
            train_dpo(a.out / key, gen, pairs, cfg, dpo, sampling)   # final/ keeps the base's sampling.json
            results[key] = validation_accuracy(gen, specs, sampling, a.val_per_prompt, a.val_seed)
            atomic_write_json(results_file, results)
        r = results[key]
        print(f"{key}: {r['overall']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] {r['tasks']}")
    best = max((k for k in results if k not in ("base", "best")), key=lambda k: results[k]["overall"])
    print(f"best on validation prompts: {best} ({results[best]['overall']:.3f}; base "
          f"{results['base']['overall']:.3f}); pairs {len(pairs['prompt'])}, unanimous dropped {pairs['dropped']}")
    results["best"] = best
    atomic_write_json(results_file, results)



if __name__ == "__main__":
    main()
