"""Does the counts-verdict calibration help search? A validation pool replayed with and without it (issue 14).

Reads the records of `search_scaling.py --validation P` (training-grammar prompts, seeds apart from the
benchmark's) made with a verifier whose config has `count_verdict_calibration`. For the prompts of a calibrated
task every recorded counts verdict (the final image's ORM, PRM and PARM scores, PARM's potential on previews) is
mapped back through the inverse of its Platt map, which is exact up to the clip at 1e-6, so one pool gives both
verifiers. Prints at N the accuracy of base, ORM, PARM (its gate: --gate, default the verifier's
`parm_threshold`), PARM with early stopping, PARM in waves and the oracle, each with and without the
calibration, the paired difference PARM - ORM, and per task the final score's ECE and yes/no agreement at 0.5.
Ranking is unchanged by a monotone map: only the cuts at fixed probabilities move.
Usage: python benchmarks/calibration_check.py --records runs/val-scaling-ar/records 600 779 \\
           [--verifier src/imagecot/zoo/verifier-ar] [--gate 0.05] [--partial]
"""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from imagecot.evaluation.geneval import paired_difference, summarize
from imagecot.evaluation.ranking import expected_calibration_error
from imagecot.hub import resolve
from imagecot.search.replay import load_validation_records, replay
from imagecot.verifiers.calibration import platt_invert

STRATEGIES = {"base": {}, "orm": {}, "parm": {}, "parm_es": {}, "oracle": {}}


def uncalibrated(rec, ab):
    """The record as the verifier without the calibration would have scored it."""
    inv = np.vectorize(lambda p: platt_invert(p, ab))
    prm_CT = rec.prm_CT.copy()
    prm_CT[:, -1] = inv(prm_CT[:, -1])
    return dataclasses.replace(rec, orm_C=inv(rec.orm_C), prm_CT=prm_CT, potential_CT=inv(rec.potential_CT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", nargs=3, required=True, metavar=("DIR", "P", "VAL_SEED"))
    ap.add_argument("--verifier", default="zoo:verifier-ar", help="the verifier folder the pool was recorded with")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--parm-wave", type=float, nargs=2, default=(5, 0.7), metavar=("W", "S"))
    ap.add_argument("--gate", type=float, default=None, help="PARM's threshold (default: the verifier's)")
    ap.add_argument("--partial", action="store_true", help="use the chunks recorded so far (a run stopped early)")
    a = ap.parse_args()
    config = json.loads((Path(resolve(a.verifier)) / "config.json").read_text())
    calibration = config.get("count_verdict_calibration", {})
    gate = config.get("parm_threshold", 0.5) if a.gate is None else a.gate
    parm_opts = {"threshold": gate, "clarity": config.get("parm_clarity", 0.5)}
    if not calibration:
        raise SystemExit(f"{a.verifier} has no count_verdict_calibration: nothing to compare")
    recs, tags = load_validation_records(a.records[0], int(a.records[1]), int(a.records[2]), partial=a.partial)
    before = [uncalibrated(r, calibration[t]) if t in calibration else r for r, t in zip(recs, tags)]
    strategies = {**STRATEGIES, "parm_wave": {"wave": int(a.parm_wave[0]), "stop_at": a.parm_wave[1]}}
    print(f"{len(recs)} validation prompts, pools of {a.n}; calibrated tasks: {sorted(calibration)}; PARM's gate: "
          f"potential >= {gate} at clarity >= {parm_opts['clarity']}, both ways")
    print("| strategy | without calibration [95% CI] | color_attr | with [95% CI] | color_attr | token-forwards "
          "/ image (without / with) |\n|---|---|---|---|---|---|")
    correct = {}
    for name, options in strategies.items():
        cells = []
        for label, rs in (("without", before), ("with", recs)):
            reps = [replay(r, name, a.n, **options, **(parm_opts if name.startswith("parm") else {}))
                    for r in rs]
            correct[name, label] = [x.correct for x in reps]
            s = summarize([{"tag": t, "correct": c} for t, c in zip(tags, correct[name, label])])
            ca = s["tasks"].get("color_attr", {}).get("accuracy", float("nan"))
            lo, hi = s["overall"]["ci95"]
            cells += [f"{s['overall']['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]", f"{ca:.3f}",
                      f"{np.mean([x.compute for x in reps]):,.0f}"]
        print(f"| {name} | {cells[0]} | {cells[1]} | {cells[3]} | {cells[4]} | {cells[2]} / {cells[5]} |")
    for label in ("without", "with"):
        d = paired_difference(tags, correct["parm", label], correct["orm", label])
        print(f"PARM - ORM {label} calibration: {d['difference']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
    print("\nFinal score (ORM) per task: ECE / yes-no agreement at 0.5, without -> with calibration")
    tags_N = np.asarray(tags)
    for task in [*sorted(set(tags)), "overall"]:
        m = np.ones(len(tags), bool) if task == "overall" else tags_N == task
        labels = np.concatenate([r.correct_C[:a.n] for r, k in zip(recs, m) if k]).astype(bool)
        cells = []
        for rs in (before, recs):
            s = np.concatenate([r.orm_C[:a.n] for r, k in zip(rs, m) if k])
            cells.append(f"{expected_calibration_error(s, labels):.3f} / {((s >= 0.5) == labels).mean():.3f}")
        print(f"| {task} | {len(labels)} | {cells[0]} -> {cells[1]} |")


if __name__ == "__main__":
    main()
