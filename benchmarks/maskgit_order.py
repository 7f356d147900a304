"""Why MaskGIT trails AR here: in which order does mask-predict decide the object tokens?

For validation prompts drawn from the task grammar (the sweep's seed), run the
MaskGIT generator at each (steps, choice temperature) setting and record, for
every step, which grid cells it reveals. A cell is an *object* cell when any
pixel of its patch in the final image differs from the background colour by
more than 40 levels (the codebook has many background codes, so tokens
cannot tell). Printed per
setting: the evaluator's accuracy (overall and per task), the share of object
cells among the cells revealed in each quarter of the schedule, and the mean
number of object cells decided in one single step (the largest such step of
each image): cells decided together are sampled independently of each other.

Choice temperature 0 is pure confidence order; a very large one (1e6) is a
random order; MaskGIT's default anneals from 4.5 to 0.
Usage: python benchmarks/maskgit_order.py [--checkpoint runs/maskgit/final] [--steps 8 16]
       [--choice-temperature 0 4.5 1e6] [--per-task 32] [--json out.json]
"""

import argparse
import json
import random

import numpy as np
import torch

from imagecot.data.images import to_uint8
from imagecot.data.streams import background_of
from imagecot.evaluation.geneval import score_images
from imagecot.world import TASKS, sample_spec
from imagecot.zoo import default_sampling, load_generator


@torch.no_grad()
def reveal_steps(gen, prompts: list[str], sampling, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, tokens_BN, step_BN): the step at which each cell was revealed."""
    session = gen.start(prompts, sampling, seed=seed)
    mask_id = gen.model.config.mask_id
    step_BN = torch.full(session.tokens_BN.shape, -1, dtype=torch.long)
    while session.t < session.num_steps:
        was_masked_BN = session.tokens_BN == mask_id
        session.step()
        step_BN[was_masked_BN & (session.tokens_BN != mask_id)] = session.t - 1
    out = session.finish()
    return out.images, out.tokens, step_BN


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--choice-temperature", type=float, nargs="+", default=[0.0, 4.5, 1e6])
    ap.add_argument("--per-task", type=int, default=32)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = load_generator("maskgit", a.checkpoint, a.tokenizer)
    sampling = default_sampling(a.checkpoint, kind="maskgit")
    rng = random.Random(a.seed)
    specs = [sample_spec(t, rng) for t in TASKS for _ in range(a.per_task)]
    bg_3 = np.array(background_of(gen.model.config.data), dtype=np.int16)
    g = gen.model.config.grid
    rows = []
    print(f"sampling {sampling}; {len(specs)} prompts")
    print("| steps | choice T | overall | " + " | ".join(TASKS) + " | object share of reveals, by quarter "
          "| object cells in the largest single step |")
    print("|---:|---:|---:|" + "---:|" * len(TASKS) + "---|---:|")
    for steps in a.steps:
        for choice in a.choice_temperature:
            gen.model.config.sample_steps, gen.model.config.choice_temperature = steps, choice
            images, obj, quarters, largest = [], 0, torch.zeros(4), []
            reveals_per_quarter = torch.zeros(4)
            for i in range(0, len(specs), 64):
                imgs, tokens_BN, step_BN = reveal_steps(gen, [s["prompt"] for s in specs[i:i + 64]], sampling,
                                                        a.seed + i)
                u8_BHW3 = to_uint8(imgs)
                images.extend(u8_BHW3)
                B, H = u8_BHW3.shape[:2]
                far_BHW = (np.abs(u8_BHW3.astype(np.int16) - bg_3).max(-1) > 40)
                obj_BN = torch.from_numpy(far_BHW.reshape(B, g, H // g, g, H // g).any((2, 4)).reshape(B, g * g))
                quarter_BN = (step_BN * 4) // steps
                for q in range(4):
                    in_q = quarter_BN == q
                    reveals_per_quarter[q] += in_q.sum()
                    quarters[q] += (in_q & obj_BN).sum()
                per_step_BT = torch.stack([((step_BN == t) & obj_BN).sum(1) for t in range(steps)], 1)
                largest.extend(per_step_BT.max(1).values.tolist())
                obj += obj_BN.sum().item()
            summ = score_images(specs, images, n_boot=100)
            share = (quarters / reveals_per_quarter.clamp(min=1)).tolist()
            row = {"steps": steps, "choice_temperature": choice, "overall": summ["overall"]["accuracy"],
                   **{t: summ["tasks"][t]["accuracy"] for t in TASKS}, "object_share_by_quarter": share,
                   "object_cells_per_image": obj / len(specs), "largest_object_step": sum(largest) / len(largest)}
            rows.append(row)
            print(f"| {steps} | {choice:g} | {row['overall']:.3f} | "
                  + " | ".join(f"{row[t]:.3f}" for t in TASKS)
                  + " | " + " / ".join(f"{s:.2f}" for s in share) + f" | {row['largest_object_step']:.1f} of "
                  f"{row['object_cells_per_image']:.1f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "per_task": a.per_task, "seed": a.seed}, f, indent=2)


if __name__ == "__main__":
    main()
