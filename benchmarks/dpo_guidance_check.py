"""Does a DPO'd model lose only under guidance? Validation accuracy (training-grammar prompts, training seeds, judged
by the evaluator) of each model at each CFG scale, with the sweep's `validation_accuracy`.

DPO trains the unguided model while the samples are drawn with CFG. If a DPO'd model lost only at CFG > 1, the
mismatch would be the cause; if it loses at CFG 1 as well, DPO itself moved the model the wrong way.
Usage: python benchmarks/dpo_guidance_check.py --model base=zoo:ar \
           --model dpo=runs/v7/dpo-sweep-ar/lr=1e-05,beta=0.1,epochs=2,pairs=4/final --cfg 1 2
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from dpo_sweep import validation_accuracy  # noqa: E402

from imagecot.verifiers.prompts import training_specs  # noqa: E402
from imagecot.zoo import default_sampling, load_generator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT")
    ap.add_argument("--cfg", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument("--per-prompt", type=int, default=2)
    ap.add_argument("--val-seed", type=int, default=777)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    specs = training_specs(a.prompts, seed=a.val_seed)
    for name, ckpt in (m.split("=", 1) for m in a.model):
        for cfg in a.cfg:
            s = default_sampling("zoo:ar", "ar")   # the shipped sampling, at this CFG
            s.cfg_scale = cfg
            r = validation_accuracy(load_generator("ar", ckpt), specs, s, a.per_prompt, a.val_seed)
            print(name, cfg, round(r["overall"], 3), {k: round(v, 2) for k, v in r["tasks"].items()}, flush=True)


if __name__ == "__main__":
    main()
