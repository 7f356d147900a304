"""Choose PARM's wave settings (wave W, stop at final potential S) on a validation pool, never on the benchmark.

Reads the records of `search_scaling.py --validation P --record-only` (candidates of prompts from the training
grammar, with seeds apart from the benchmark's) and replays PARM in waves for every W and S of the grid at N.
The rule, fixed before any benchmark run: the cheapest setting whose validation accuracy is at least the
reference PARM's at N minus `--tolerance`. Prints the grid and writes the choice as JSON, whose "wave" and
"stop_at" are what `search_scaling.py --parm-wave W S` then runs on the benchmark.
Several validation pools (other prompts, other seeds) are pooled: `--records DIR P VAL_SEED` once for each.
Usage: python benchmarks/choose_parm_waves.py --records runs/val-scaling-ar/records 300 777 \\
    --out runs/val-scaling-ar/parm_waves.json
"""

import argparse
from pathlib import Path

import numpy as np

from imagecot.evaluation.geneval import summarize
from imagecot.io_utils import atomic_write_json
from imagecot.search.replay import load_records, replay
from imagecot.verifiers.prompts import training_specs


def evaluate(recs, tags, strategy: str, n: int, **options) -> tuple[float, float]:
    """(accuracy: mean over tasks, as the benchmark reports it; mean token-forwards per image)."""
    reps = [replay(r, strategy, n, **options) for r in recs]
    summ = summarize([{"tag": t, "correct": x.correct} for t, x in zip(tags, reps)], n_boot=1)   # point estimate
    return summ["overall"]["accuracy"], float(np.mean([x.compute for x in reps]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", nargs=3, action="append", required=True, metavar=("DIR", "P", "VAL_SEED"),
                    help="a --validation run's records/ folder, its P and its --val-seed (the prompts are rebuilt "
                         "from them)")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--waves", type=int, nargs="+", default=[1, 2, 4, 5, 10])
    ap.add_argument("--stop-at", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99])
    ap.add_argument("--tolerance", type=float, default=0.005,
                    help="how far below the reference's validation accuracy a setting may be")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    recs, tags = [], []
    for folder, p, val_seed in a.records:
        specs = training_specs(int(p), seed=int(val_seed))
        before = len(recs)
        for path in sorted(Path(folder).glob("*.npz")):
            start = int(path.stem.split("-")[0])
            for i, r in enumerate(load_records(path)):
                recs.append(r)
                tags.append(specs[start + i]["tag"])
        held = len(recs) - before
        if held != int(p):
            raise SystemExit(f"{folder} holds {held} prompts' records, not {p}: is the recording finished, and is "
                             "this the P it was recorded with?")
    ref_acc, ref_cost = evaluate(recs, tags, "parm", a.n)
    print(f"reference PARM at N = {a.n}: accuracy {ref_acc:.3f}, {ref_cost:,.0f} token-forwards / image "
          f"({len(recs)} validation prompts)")
    rows = []
    for w in a.waves:
        for s in a.stop_at:
            acc, cost = evaluate(recs, tags, "parm_wave", a.n, wave=w, stop_at=s)
            rows.append({"wave": w, "stop_at": s, "accuracy": acc, "compute_share": cost / ref_cost})
            print(f"wave {w:2d}  stop at {s:.2f}:  accuracy {acc:.3f}  compute {cost / ref_cost:6.1%}")
    ok = [r for r in rows if r["accuracy"] >= ref_acc - a.tolerance]
    choice = min(ok, key=lambda r: (r["compute_share"], -r["accuracy"])) if ok else None
    print("choice:", "none within the tolerance" if choice is None else
          f"wave {choice['wave']}, stop at {choice['stop_at']} ({choice['compute_share']:.0%} of the reference's "
          f"compute, accuracy {choice['accuracy']:.3f} against {ref_acc:.3f})")
    atomic_write_json(a.out, {"rule": f"cheapest with validation accuracy >= reference - {a.tolerance}",
                              "n": a.n, "reference": {"accuracy": ref_acc, "compute": ref_cost},
                              "grid": rows, **(choice or {})})


if __name__ == "__main__":
    main()
