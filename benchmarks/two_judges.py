"""Does a second, separately trained verifier let PARM beat ORM, or only two judges beat one?

The paper's ORM and PARM are two separately fine-tuned models; ours are one network. This replays, on one
validation pool scored by verifier A (its records) and the same pool rescored by verifier B
(`search_scaling.py --rescore-from A --verifiers B`), PARM whose step judgments (clarity, potential on the
previews) are B's while its final judgment is A's or A and B's together, against ORM with A, with B and with
A and B together (the mean of the two logits). A PARM gain over ORM(A) that ORM(A + B) matches is the second
judge's, not step-level search's. Validation pools only (training grammar, other seeds): never the benchmark.
Usage: python benchmarks/two_judges.py --a runs/v17/val-scaling-ar/records --b runs/v20/val-ar-32k/records \\
    --prompts 500 783 --out runs/v20/two_judges.json
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from imagecot.evaluation.geneval import paired_difference, paired_text, summarize
from imagecot.io_utils import atomic_write_json
from imagecot.search.replay import load_validation_records, replay
from imagecot.verifiers.calibration import logit


def logit_mean(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """sigmoid of the mean of the two logits: one judgment from two judges' probabilities."""
    return 1 / (1 + np.exp(-(logit(p_a) + logit(p_b)) / 2))


def judged_by(rec_a, rec_b, final: str):
    """A's record with B's step judgments (clarity, potential before the last step) and the final judgment
    (orm_C, and the potential at the last step, which PARM's pick reads) of `final`: 'a', 'b' or 'ab'."""
    fin_C = {"a": rec_a.orm_C, "b": rec_b.orm_C, "ab": logit_mean(rec_a.orm_C, rec_b.orm_C)}[final]
    pot_a_C, pot_b_C = rec_a.potential_CT[:, -1], rec_b.potential_CT[:, -1]
    pot_fin_C = {"a": pot_a_C, "b": pot_b_C, "ab": logit_mean(pot_a_C, pot_b_C)}[final]
    potential_CT = rec_b.potential_CT.copy()
    potential_CT[:, -1] = pot_fin_C
    return replace(rec_a, orm_C=fin_C, potential_CT=potential_CT, clarity_CT=rec_b.clarity_CT, prm_CT=rec_b.prm_CT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="the pool's records/ scored by verifier A")
    ap.add_argument("--b", type=Path, required=True, help="the same pool's records/ rescored by verifier B")
    ap.add_argument("--prompts", nargs=2, type=int, required=True, metavar=("P", "VAL_SEED"),
                    help="the pool's --validation P and --val-seed")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--clarities", type=float, nargs="+", default=[0.5, 0.9, 0.99])
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.2, 0.5])
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    recs_a, tags = load_validation_records(a.a, *a.prompts)
    recs_b, tags_b = load_validation_records(a.b, *a.prompts)
    if tags != tags_b or any(not np.array_equal(x.correct_C, y.correct_C) for x, y in zip(recs_a, recs_b)):
        raise SystemExit(f"{a.a} and {a.b} are not the same pool (their prompts or evaluator verdicts differ)")

    def accuracy(ok):
        return summarize([{"tag": t, "correct": c} for t, c in zip(tags, ok)], n_boot=1)["overall"]["accuracy"]

    verdicts = {}
    for final in ("a", "b", "ab"):
        recs = [judged_by(x, y, final) for x, y in zip(recs_a, recs_b)]
        verdicts[f"ORM({final.upper()})"] = [replay(r, "orm", a.n).correct for r in recs]
        for c in a.clarities:
            for t in a.thresholds:
                verdicts[f"PARM(steps B, final {final.upper()}) C {c} T {t}"] = [
                    replay(r, "parm", a.n, clarity=c, threshold=t).correct for r in recs]
    for c in a.clarities:   # A alone: the shipped design, one network
        for t in a.thresholds:
            verdicts[f"PARM(A) C {c} T {t}"] = [replay(r, "parm", a.n, clarity=c, threshold=t).correct
                                                for r in recs_a]
    rows = {}
    for name, ok in verdicts.items():
        final = name.split("final ")[1].split(")")[0] if "final " in name else "A"
        ref = f"ORM({final})"   # PARM against ORM with the same final judge; each ORM against ORM(A)
        rows[name] = {"accuracy": accuracy(ok), "vs": ref, "paired": paired_difference(tags, ok, verdicts[ref]),
                      "paired_vs_orm_a": paired_difference(tags, ok, verdicts["ORM(A)"])}
        print(f"{name:42s} {rows[name]['accuracy']:.4f}  − {ref}: {paired_text(rows[name]['paired'], 4):26s} "
              f"− ORM(A): {paired_text(rows[name]['paired_vs_orm_a'], 4)}")
    atomic_write_json(a.out, {"a": str(a.a), "b": str(a.b), "prompts": a.prompts, "n": a.n, "rows": rows})
    print(json.dumps({k: round(v["accuracy"], 4) for k, v in rows.items() if k.startswith("ORM")}))


if __name__ == "__main__":
    main()
