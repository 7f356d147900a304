"""Choose PARM's gate (threshold T) and wave settings (wave W, stop at K final potentials >= S) on a validation pool.

Reads the records of `search_scaling.py --validation P --record-only` (candidates of prompts from the training
grammar, with seeds apart from the benchmark's; never the benchmark) and replays PARM at N. The rules, fixed
before any benchmark run:
- the gate: the clarity C and threshold T of the grid (`--clarities`, `--thresholds`; the paper's are 0.5 and 0.5)
  at which the reference PARM's validation accuracy is highest, ties to the smaller C (an earlier judgment, which
  early stopping turns into savings), then the larger T. A preview is clear when its clarity is >= C, and a
  candidate is "yes" when its potential at its first clear step is >= T; with --write-into, C and T become that
  verifier folder's `parm_clarity` and `parm_threshold`, which every PARM run with it then uses (`imagecot
  generate --verifier parm`, search_scaling.py);
- the waves, at that C and T: the cheapest (W, S, K) that is not worse than the reference PARM at N by more than
  `--tolerance`. `--rule noninferior` (the default since 2026-12-02) asks it of the lower end of the paired 95%
  bootstrap interval of (waves - reference) over the validation images; `--rule point` (the earlier rule) of the
  point estimate only, which let a noisy small loss through: W 2, S 0.8 was -0.004 on 600 validation prompts and
  -0.022 [-0.031, -0.013] on the benchmark. `--rule replicated` (the default since 2026-12-07, session 4) asks it
  of the pooled interval and of each validation pool's own: on AR's two pools (500 and 1,000 prompts) the pooled
  noninferior choice, W 2 S 0.9 K 3 (+0.001 [-0.005, +0.006] pooled), had a lower end of -0.019 on the smaller
  pool alone and was -0.009 [-0.016, -0.003] on the benchmark: the cheapest setting that passes is often the one
  that passes by luck, so it must pass on every pool. K (`--stop-yeses`, since 2026-12-07) is how many confident "yes"es
  end a prompt's waves (1 before). Its "wave", "stop_at" and "stop_yeses" are what `search_scaling.py
  --parm-wave W S K` then runs on the benchmark.
Prints both grids and writes the choice as JSON.
Several validation pools (other prompts, other seeds) are pooled: `--records DIR P VAL_SEED` once for each.
Usage: python benchmarks/choose_parm_waves.py --records runs/val-scaling-ar/records 300 777 \\
    --out runs/val-scaling-ar/parm_waves.json [--write-into src/imagecot/zoo/verifier-ar]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from imagecot.evaluation.geneval import paired_difference, paired_text, summarize
from imagecot.io_utils import atomic_write_json
from imagecot.search.replay import load_validation_records, replay


def evaluate(recs, tags, strategy: str, n: int, **options) -> tuple[float, float, list[bool]]:
    """(accuracy: mean over tasks, as the benchmark reports it; mean token-forwards per image; each image's
    verdict)."""
    reps = [replay(r, strategy, n, **options) for r in recs]
    summ = summarize([{"tag": t, "correct": x.correct} for t, x in zip(tags, reps)], n_boot=1)   # point estimate
    return summ["overall"]["accuracy"], float(np.mean([x.compute for x in reps])), [x.correct for x in reps]


def parm_room(recs, n: int, clarity: float) -> dict:
    """Where can any gate let PARM beat ORM? Over the prompts where ORM's pick is wrong and the pool holds a right
    candidate: those where ORM's pick's potential (at its first step of clarity >= `clarity`, where PARM judges it)
    is above every right candidate's, which no gate can drop without dropping them first; the others are PARM's
    whole room."""
    wrong = [r for r in recs if not replay(r, "orm", n).correct]
    mixed = [r for r in wrong if r.correct_C[:n].any()]
    shielded = 0
    for r in mixed:
        first_C = (r.clarity_CT[:n] >= clarity).argmax(1)   # the final image is always clear
        pot_C = r.potential_CT[np.arange(n), first_C]
        shielded += pot_C[replay(r, "orm", n).chosen] > pot_C[r.correct_C[:n]].max()
    return {"orm_wrong": len(wrong), "right_in_pool": len(mixed), "pick_above_every_right": int(shielded),
            "room": len(mixed) - int(shielded)}


def not_worse(rule: str, tolerance: float, accuracy: float, ref_accuracy: float, lower: float,
              pool_lowers: tuple[float, ...] = ()) -> bool:
    """Whether a setting counts as the reference's accuracy: its point estimate (`point`), the lower end of its
    paired interval against the reference (`noninferior`), or that and the lower end on each validation pool
    alone (`replicated`; `pool_lowers`) is at least -tolerance."""
    if rule == "point":
        return accuracy >= ref_accuracy - tolerance
    if rule == "noninferior":
        return lower >= -tolerance
    if rule == "replicated":
        return min((lower, *pool_lowers)) >= -tolerance
    raise ValueError(f"unknown rule {rule!r}; expected 'point', 'noninferior' or 'replicated'")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", nargs=3, action="append", required=True, metavar=("DIR", "P", "VAL_SEED"),
                    help="a --validation run's records/ folder, its P and its --val-seed (the prompts are rebuilt "
                         "from them)")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--waves", type=int, nargs="+", default=[1, 2, 4, 5, 10])
    ap.add_argument("--stop-at", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99])
    ap.add_argument("--stop-yeses", type=int, nargs="+", default=[1, 2, 3],
                    help="confident 'yes'es that end a prompt's waves (K)")
    ap.add_argument("--tolerance", type=float, default=0.005,
                    help="how far below the reference's validation accuracy a setting may be")
    ap.add_argument("--rule", choices=("replicated", "noninferior", "point"), default="replicated",
                    help="judge --tolerance on the paired interval's lower end, pooled and on each --records pool "
                         "(replicated), pooled only (noninferior), or on the point estimate")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01])
    ap.add_argument("--clarities", type=float, nargs="+", default=[0.5, 0.7, 0.8, 0.9, 0.95, 0.99],
                    help="clarity thresholds: a preview at or above one is judged clear (the paper's 0.5)")
    ap.add_argument("--partial", action="store_true",
                    help="use the chunks recorded so far (a validation run stopped early) instead of stopping")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--write-into", type=Path, default=None,
                    help="a verifier folder whose config.json gets the chosen gate as parm_clarity, parm_threshold")
    a = ap.parse_args()
    recs, tags, spans = [], [], []   # spans: each pool's (first, end) in recs
    for folder, p, val_seed in a.records:
        try:
            r, t = load_validation_records(folder, int(p), int(val_seed), partial=a.partial)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        spans.append((len(recs), len(recs) + len(r)))
        recs += r
        tags += t
    print(f"{len(recs)} validation prompts; ORM best-of-{a.n}: accuracy {evaluate(recs, tags, 'orm', a.n)[0]:.3f}")
    gates = []
    print("reference PARM's accuracy, by clarity C (rows) and gate T (columns):\n    C  " +
          "".join(f"  T {t:<5}" for t in a.thresholds))
    for c in a.clarities:
        row = []
        for t in a.thresholds:
            acc, _, _ = evaluate(recs, tags, "parm", a.n, threshold=t, clarity=c)
            gates.append({"clarity": c, "threshold": t, "accuracy": acc})
            row.append(acc)
        print(f"{c:5.2f}  " + "".join(f"  {x:7.4f}" for x in row))
    for c in sorted({0.5, *a.clarities}):
        room = parm_room(recs, a.n, c)
        print(f"clarity cut {c}: ORM wrong on {room['orm_wrong']} of {len(recs)} prompts, a right candidate in the "
              f"pool on {room['right_in_pool']}; there ORM's pick out-judges every right one on "
              f"{room['pick_above_every_right']}: PARM's room is {room['room']} prompts")
    best = max(gates, key=lambda g: (round(g["accuracy"], 9), -g["clarity"], g["threshold"]))
    thr, clarity = best["threshold"], best["clarity"]
    gate_opts = {"threshold": thr, "clarity": clarity}
    ref_acc, ref_cost, ref_ok = evaluate(recs, tags, "parm", a.n, **gate_opts)
    print(f"gate: clarity >= {clarity}, potential >= {thr}; reference PARM at N = {a.n}: accuracy {ref_acc:.3f}, "
          f"{ref_cost:,.0f} token-forwards / image")
    orm_ok = evaluate(recs, tags, "orm", a.n)[2]
    vs_orm = [paired_difference(tags[i:j], ref_ok[i:j], orm_ok[i:j]) for i, j in [(0, len(recs)), *spans]]
    print("reference PARM - ORM, paired: " + paired_text(vs_orm[0], 4)
          + (f" (each pool: {', '.join(paired_text(d, 4) for d in vs_orm[1:])})" if len(spans) > 1 else ""))
    rows = []
    for k in a.stop_yeses:
        for w in a.waves:
            for s in a.stop_at:
                acc, cost, ok_w = evaluate(recs, tags, "parm_wave", a.n, wave=w, stop_at=s, stop_yeses=k,
                                           **gate_opts)
                paired = paired_difference(tags, ok_w, ref_ok)
                pool_lowers = [paired_difference(tags[i:j], ok_w[i:j], ref_ok[i:j])["ci95"][0] for i, j in spans
                               ] if len(spans) > 1 else []
                rows.append({"wave": w, "stop_at": s, "stop_yeses": k, "accuracy": acc,
                             "compute_share": cost / ref_cost, "paired_vs_reference": paired["difference"],
                             "paired_ci95": paired["ci95"], "pool_lowers": pool_lowers})
                print(f"wave {w:2d}  stop at {s:.2f}  yeses {k}:  accuracy {acc:.3f}  compute {cost / ref_cost:6.1%}  "
                      f"paired {paired['difference']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]"
                      + (f"  each pool's lower end {', '.join(f'{x:+.3f}' for x in pool_lowers)}" if pool_lowers
                         else ""))
    ok = [r for r in rows if not_worse(a.rule, a.tolerance, r["accuracy"], ref_acc, r["paired_ci95"][0],
                                       tuple(r["pool_lowers"]))]
    choice = min(ok, key=lambda r: (r["compute_share"], -r["accuracy"])) if ok else None
    closest = max(rows, key=lambda r: (r["paired_ci95"][0], -r["compute_share"]))
    lo, hi = closest["paired_ci95"]
    print(f"closest to the reference (highest lower end of the paired interval): wave {closest['wave']}, stop at "
          f"{closest['stop_at']}, yeses {closest['stop_yeses']} ({closest['compute_share']:.0%} of the compute, paired "
          f"{closest['paired_vs_reference']:+.4f} [{lo:+.4f}, {hi:+.4f}])")
    print("choice:", "none within the tolerance" if choice is None else
          f"wave {choice['wave']}, stop at {choice['stop_at']}, yeses {choice['stop_yeses']} "
          f"({choice['compute_share']:.0%} of the reference's "
          f"compute, accuracy {choice['accuracy']:.3f} against {ref_acc:.3f})")
    wave_rule = {"noninferior": f"the lower end of the paired 95% interval against the reference >= -{a.tolerance}",
                 "replicated": f"the lower end of the paired 95% interval against the reference >= -{a.tolerance}, "
                               "pooled and on each validation pool alone",
                 "point": f"validation accuracy >= reference - {a.tolerance}"}[a.rule]
    atomic_write_json(a.out, {"rule": f"gate: the clarity and threshold of best validation accuracy (ties: the "
                                      f"smaller clarity, then the larger threshold); waves: cheapest with {wave_rule}",
                              "n": a.n, "threshold": thr, "clarity": clarity, "gates": gates,
                              "reference": {"accuracy": ref_acc, "compute": ref_cost,
                                            "paired_vs_orm": vs_orm[0], "paired_vs_orm_by_pool": vs_orm[1:]},
                              "grid": rows, "closest": closest, **(choice or {})})
    if a.write_into:
        config = json.loads((a.write_into / "config.json").read_text())
        atomic_write_json(a.write_into / "config.json", {**config, "parm_threshold": thr, "parm_clarity": clarity})
        print(f"{a.write_into / 'config.json'}: parm_threshold = {thr}, parm_clarity = {clarity}")


if __name__ == "__main__":
    main()
