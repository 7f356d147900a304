"""The verifier-quality ladder: verifiers trained on growing data, each searched with on the same recorded pool.

For every rung (a verifier run trained with `--limit N` rollouts, and the
`search_scaling.py --rescore-from` report of the benchmark pool scored with it)
this prints and writes one row: training rollouts, held-out within-pool AUC
(outcome), the benchmark pool's within-pool AUC of the ORM on final images, the
benchmark accuracy at the table's N of ORM, PRM, PARM, PARM + early stop, PARM
in waves (if the report has it) and PARM++, and the compute early stopping saves; and draws accuracy against the
pool's within-pool AUC, one line per strategy (`ladder.png`).
Usage: python benchmarks/verifier_ladder.py --rung runs/v6/ladder/2000 runs/v6/scaling-ladder-2000 ... --out DIR
"""

import argparse
import json
from pathlib import Path

from imagecot.evaluation.geneval import paired_text
from imagecot.io_utils import atomic_write_json, atomic_write_text
from imagecot.report.figures import ladder_figure, save_png

STRATEGIES = {"orm": "ORM", "prm": "PRM", "parm": "PARM", "parm_es": "PARM + early stop",
              "parm_es1": "PARM + early stop, one yes", "parm_wave": "PARM in waves", "parm++": "PARM++"}


def rung(verifier_run: Path, scaling: Path) -> dict:
    ev = json.loads((verifier_run / "final" / "eval.json").read_text())
    config = json.loads((verifier_run / "final" / "config.json").read_text())
    sc = json.loads((scaling / "scaling.json").read_text())
    n = sc["pool"] if sc["pool"] in sc["ns"] else max(sc["ns"])
    res = sc["results"]
    row = {"train_rollouts": ev["train_rollouts"], "held_out_within_auc": ev["outcome"]["within_auc"],
           "held_out_ece": ev["outcome"]["ece"], "n": n,
           # the prompt formats whose verdict it reads from its counts and parse heads (chosen on validation)
           "count_verdict_tasks": config.get("count_verdict_tasks", []),
           "pool_within_auc": sc["verifier_auc"]["overall"]["orm_within"],
           "pool_color_attr_within_auc": sc["verifier_auc"]["color_attr"]["orm_within"],
           "base": res["base@1"]["overall"]["accuracy"], "oracle": res[f"oracle@{n}"]["overall"]["accuracy"],
           "parm_es_compute_share": res[f"parm_es@{n}"]["compute_per_image"] / res[f"parm@{n}"]["compute_per_image"],
           "parm_es1_compute_share": res[f"parm_es1@{n}"]["compute_per_image"] / res[f"parm@{n}"]["compute_per_image"]}
    wave = res.get(f"parm_wave@{n}")   # search_scaling.py --parm-wave W S
    if wave:
        row.update(parm_wave_options=wave["options"], parm_wave_paired=wave.get("paired_vs_parm"),
                   parm_wave_compute_share=wave["compute_per_image"] / res[f"parm@{n}"]["compute_per_image"])
    for s in ("prm", "parm"):   # search_scaling.py writes these since 2026-12-07
        row[f"{s}_paired_vs_orm"] = res[f"{s}@{n}"].get("paired_vs_orm")
    for s in STRATEGIES:
        r = res.get(f"{s}@{n}")
        row[s] = None if r is None else r["overall"]["accuracy"]
        row[f"{s}_ci95"] = None if r is None else r["overall"]["ci95"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rung", nargs=2, action="append", type=Path, required=True, metavar=("VERIFIER_RUN", "SCALING"))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    rows = sorted((rung(v, s) for v, s in a.rung), key=lambda r: r["train_rollouts"])
    n = rows[0]["n"]
    lines = [f"Verifier ladder: benchmark accuracy at N = {n} (base {rows[0]['base']:.3f}, oracle "
             f"{rows[0]['oracle']:.3f}) with verifiers trained on growing data", "",
             "| training rollouts | held-out within-pool AUC (ECE) | benchmark within-pool AUC (color_attr) | "
             + " | ".join(STRATEGIES.values()) + " | PARM-ES compute | one-yes compute | waves compute | "
             "PRM − ORM (paired) | PARM − ORM (paired) | waves − PARM (paired) | verdict from counts/parse on |",
             "|---|---|---|" + "---|" * len(STRATEGIES) + "---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['train_rollouts']:,} | {r['held_out_within_auc']:.3f} ({r['held_out_ece']:.3f}) | "
                     f"{r['pool_within_auc']:.3f} ({r['pool_color_attr_within_auc']:.3f}) | "
                     + " | ".join("–" if r[s] is None else f"{r[s]:.3f}" for s in STRATEGIES)
                     + f" | {r['parm_es_compute_share']:.0%} | {r['parm_es1_compute_share']:.0%} | "
                     + (f"{r['parm_wave_compute_share']:.0%}" if "parm_wave_compute_share" in r else "–") + " | "
                     + " | ".join(paired_text(r.get(k)) for k in ("prm_paired_vs_orm", "parm_paired_vs_orm",
                                                              "parm_wave_paired"))
                     + f" | {', '.join(r['count_verdict_tasks']) or '–'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "ladder.md", text)
    atomic_write_json(a.out / "ladder.json", rows)
    save_png(ladder_figure(rows, STRATEGIES), a.out / "ladder.png")
    print(f"wrote {a.out / 'ladder.md'} and {a.out / 'ladder.png'}")


if __name__ == "__main__":
    main()
