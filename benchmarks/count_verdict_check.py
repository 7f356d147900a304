"""Does the verifier's own counts head rank one prompt's candidates better than its outcome head? (issue 14)

On a rollouts folder (`imagecot rollouts`: training-grammar prompts, training seeds, never the benchmark), score
every final image with a learned verifier's outcome head (the ORM), with the verdict its counts head implies
(`verifiers.count_verdict`; relations from its parse head), and with their product; print per prompt format (a
task, or the composed colored_counting and colored_position, which the benchmark does not hold) the within-pool
AUC (pools: one prompt's candidates), the best-of-pool accuracy (the share of pools whose top-scored candidate the
evaluator accepts), and the yes/no agreement with the evaluator at 0.5; then, step by step, PARM's potential head
against the counts verdict on each step's preview. With --write-into, the formats where the counts verdict or its
product with the outcome head ranks best (highest within-pool AUC of the three) become that verifier folder's
`count_verdict_tasks` (its config.json; the product's also its `count_verdict_times_head`), each with the Platt
scaling of the chosen score fitted on these rollouts' final images (`count_verdict_calibration`:
monotone, so the ranking stays; PARM's gate at 0.5 and the agreement then read even odds). ECE and agreement before
and after are printed (in-sample: the benchmark's pools are the out-of-sample check).
Usage: python benchmarks/count_verdict_check.py --rollouts runs/val-rollouts-ar [--verifier zoo:verifier-ar]
           [--write-into src/imagecot/zoo/verifier-ar [--previews-from-head]]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from imagecot.data.images import to_tensor
from imagecot.evaluation.ranking import expected_calibration_error, within_group_auc
from imagecot.io_utils import atomic_write_json
from imagecot.train.verifier import judge_role
from imagecot.verifiers.calibration import platt_apply, platt_fit
from imagecot.verifiers.count_verdict import count_verdict
from imagecot.verifiers.learned import ROLE_HEAD
from imagecot.verifiers.prompts import prompt_format
from imagecot.verifiers.rollouts import load_rollouts
from imagecot.world.spec import parse_prompt
from imagecot.zoo import load_verifier


def best_of_pool(scores, labels, groups) -> float:
    picks = [labels[groups == g][np.argmax(scores[groups == g])] for g in np.unique(groups)]
    return float(np.mean(picks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", required=True)
    ap.add_argument("--verifier", default=None, help="a verifier folder (default: the zoo's for --generator)")
    ap.add_argument("--generator", default="ar")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-into", type=Path, default=None,
                    help="a verifier folder whose config.json gets the tasks where the counts verdict ranks better")
    ap.add_argument("--previews-from-head", action="store_true",
                    help="with --write-into: the counts verdict on final images only, PARM's potential on previews "
                         "from its head (count_verdict_on_previews false, as the zoo's AR verifier has it since "
                         "BENCHMARKS.md's 'That next test')")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load_rollouts(a.rollouts)
    v = load_verifier(None, a.verifier, generator=a.generator)
    head = ROLE_HEAD[judge_role(v.net)]   # "outcome" below: the network's own final judgment (a PARM alone's potential)
    v.net.config.count_verdict_tasks = ()   # the outcome head's own scores, whatever the folder chose before
    v.net.config.count_verdict_calibration = {}
    prompts = [str(p) for p in data["prompt"]]
    specs = [parse_prompt(p) for p in prompts]
    T = data["frames"].shape[1]
    per_step = [v.heads(to_tensor(data["frames"][:, t]), prompts, t + 1, T) for t in range(T)]   # t = T: final
    step_counts = [np.array([count_verdict(spec, h["counts"][i], h["parse"][i]) for i, spec in enumerate(specs)])
                   for h in per_step]
    outcome, counts = per_step[-1][head].numpy(), step_counts[-1]
    scores = {"outcome (ORM)": outcome, "counts verdict": counts, "outcome x counts": outcome * counts}
    # rows per prompt format, not per task tag: the benchmark's position and counting prompts name no colour, and
    # a choice per tag would rest on the composed coloured formats too (on AR's rollouts they disagreed)
    labels, groups = data["correct"].astype(bool), data["prompt_index"]
    tags = np.array([prompt_format(s) for s in specs])
    rows = {}
    print(f"{len(labels)} rollouts, {len(np.unique(groups))} pools, share correct {labels.mean():.3f}")
    print("| format | pools (mixed) | " + " | ".join(f"{k}: within AUC / best-of-pool / agree"
                                                 for k in scores) + " | oracle best-of-pool |")
    print("|---|---|" + "---|" * (len(scores) + 1))
    for task in [*sorted(set(tags)), "overall"]:
        m = np.ones(len(tags), bool) if task == "overall" else tags == task
        cells, row = [], {}
        for k, s in scores.items():
            w, n_mixed = within_group_auc(s[m], labels[m], groups[m])
            bop = best_of_pool(s[m], labels[m], groups[m])
            agree = float(((s[m] > 0.5) == labels[m]).mean())
            row[k] = {"within_auc": w, "best_of_pool": bop, "agreement": agree}
            cells.append(f"{w:.3f} / {bop:.3f} / {agree:.3f}" if w is not None else f"– / {bop:.3f} / {agree:.3f}")
        oracle = best_of_pool(labels[m].astype(float), labels[m], groups[m])
        rows[task] = {**row, "oracle_best_of_pool": oracle, "mixed_pools": n_mixed}
        print(f"| {task} | {len(np.unique(groups[m]))} ({n_mixed}) | " + " | ".join(cells) + f" | {oracle:.3f} |")
    print("\nWithin-pool AUC by step of PARM's potential head / the counts verdict on the step's preview (the last "
          "step is the final image):")
    print("| format | " + " | ".join(f"t={t + 1}" for t in range(T)) + " |\n|---|" + "---|" * T)
    by_step = [(h["potential"].numpy(), c) for h, c in zip(per_step, step_counts)]
    for task in sorted(set(tags)):
        m = tags == task
        cells = [[within_group_auc(s[m], labels[m], groups[m])[0] for s in by_step[t]] for t in range(T)]
        text = [" / ".join("–" if x is None else f"{x:.3f}" for x in c) for c in cells]
        print(f"| {task} | " + " | ".join(text) + " |")
        rows[task]["by_step_potential_vs_counts"] = cells
    if a.json:
        atomic_write_json(a.json, rows)
    if a.write_into:
        chosen = {}   # task -> the score that ranks its pools best, where that is not the outcome head's
        for t, r in rows.items():
            aucs = {k: r[k]["within_auc"] for k in scores}
            best = max(scores, key=lambda k: -1.0 if aucs[k] is None else aucs[k])
            if t != "overall" and aucs[best] is not None and best != "outcome (ORM)":
                chosen[str(t)] = best
        tasks = sorted(chosen)
        calibration = {}
        for task in tasks:
            m, s = tags == task, scores[chosen[task]][tags == task]
            calibration[task] = list(platt_fit(s, labels[m]))
            after = np.array([platt_apply(p, calibration[task]) for p in s])
            print(f"{task}: {chosen[task]}; Platt a = {calibration[task][0]:.3f}, b = {calibration[task][1]:.3f}; "
                  f"ECE {expected_calibration_error(s, labels[m]):.3f} -> "
                  f"{expected_calibration_error(after, labels[m]):.3f}, agreement at 0.5 "
                  f"{((s > 0.5) == labels[m]).mean():.3f} -> {((after > 0.5) == labels[m]).mean():.3f}")
        times_head = [t for t in tasks if chosen[t] == "outcome x counts"]
        config = json.loads((a.write_into / "config.json").read_text())
        atomic_write_json(a.write_into / "config.json", {**config, "count_verdict_tasks": tasks,
                                                         "count_verdict_times_head": times_head,
                                                         "count_verdict_calibration": calibration,
                                                         "count_verdict_on_previews": not a.previews_from_head})
        print(f"{a.write_into / 'config.json'}: count_verdict_tasks = {tasks}, times_head = {times_head}, "
              f"calibration {calibration}, on previews {not a.previews_from_head}")


if __name__ == "__main__":
    main()
