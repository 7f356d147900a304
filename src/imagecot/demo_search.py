"""The demo's second half: base sampling against PARM++ on the same prompts, with what the verifier said.

Per prompt and output image j: the base image is plain sampling's image j (of
the shipped generator and, when the zoo ships one, of its DPO-aligned copy);
PARM++ searches N candidates of `gen` (seeds j*N .. j*N+N-1, as `imagecot
geneval generate --verifier parm++ --candidates N`), picks by PARM, reflects on
its pick and corrects it. All are judged by the evaluator (the answer key the
verifier never sees). Writes `compare.png` (one row per prompt, labelled with
it: the base images | [the aligned images |] the PARM++ images, each marked
with the evaluator's verdict, a PARM++ image also with whether a correction
was kept) and `compare.json` (every verdict, reflection and correction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data.images import to_uint8
from .evaluation.detector import ShapesDetector
from .evaluation.geneval import score_image
from .io_utils import atomic_write_json
from .labelled_grid import Mark, save_labelled_grid
from .search.strategies import Strategy


def verdict(record: dict) -> str:
    return "correct" if record["correct"] else f"wrong ({record['reason'].replace(chr(10), '; ')})"


def describe_pick(trace: dict, chosen: int) -> str:
    """PARM's reason for its pick, from a search trace (`chosen`: the candidate's key in trace['verdicts'])."""
    v = trace["verdicts"][chosen]
    if trace["n_yes"]:
        return (f"{trace['n_yes']} of {len(trace['verdicts'])} candidates judged 'yes' at their first clear step; "
                f"this one has the best final P(aligned), {v['final']:.2f}")
    return (f"no candidate of {len(trace['verdicts'])} judged 'yes'; this one has the lowest P(no): "
            f"potential {v['potential']:.2f}")


def correction_tag(corrections: list[dict]) -> str:
    """A PARM++ image's tag: "corrected" when a correction was kept, "fix undone" when every one was undone,
    "" when reflection found nothing to correct."""
    if any(c["accepted"] for c in corrections):
        return "corrected"
    return "fix undone" if corrections else ""


def save_compare_png(path: Path, specs: list[dict], base_PJHW3: np.ndarray, aligned_PJHW3: np.ndarray | None,
                     picks_PJHW3: np.ndarray, report: list[dict], n: int) -> None:
    """compare.png: one row per prompt (labelled with it), the blocks base | [aligned |] PARM++ side by side,
    every image marked with the evaluator's verdict, and the PARM++ images with whether a correction was kept."""
    J = base_PJHW3.shape[1]
    blocks = [("base", base_PJHW3, "base_correct")]
    if aligned_PJHW3 is not None:
        blocks.append(("aligned", aligned_PJHW3, "aligned_correct"))
    ours = "aligned + PARM++" if aligned_PJHW3 is not None else "PARM++"
    blocks.append((ours, picks_PJHW3, "parm++_correct"))
    row_PKHW3 = np.concatenate([b for _, b, _ in blocks], 1)
    marks = [Mark(e[key][j], correction_tag(e["images"][j]["corrections"]) if b == len(blocks) - 1 else "")
             for e in report for b, (_, _, key) in enumerate(blocks) for j in range(J)]
    save_labelled_grid(path, row_PKHW3.reshape(-1, *row_PKHW3.shape[2:]), row_PKHW3.shape[1],
                       row_labels=[s["prompt"] for s in specs], image_marks=marks,
                       column_titles=[t for t, _, _ in blocks], group_cols=[J] * len(blocks),
                       title=f"base sampling vs {ours} ({n} candidates); green check / red cross: the evaluator's "
                             "verdict")


def compare_base_and_parm_plus_plus(gen, sampling, specs: list[dict], base_PJHW3: np.ndarray, verifier, out: Path,
                                    n: int = 8, rounds: int = 3, seed: int = 0,
                                    aligned_PJHW3: np.ndarray | None = None) -> dict:
    """base_PJHW3: uint8, plain sampling's first J images per prompt (made with the same `seed`); aligned_PJHW3:
    the same from the aligned generator (then `gen` is that one), or None."""
    P, J = base_PJHW3.shape[:2]
    search = Strategy("parm++", gen, verifier, n, sampling, seed, {"rounds": rounds})
    # one search per (prompt, output image j: seeds j*n + c), so the bar moves every few seconds; a candidate's
    # seed depends on its prompt's index and j alone, so this batching gives the same images as one big batch
    runs = [[None] * P for _ in range(J)]
    with tqdm(total=P * J, desc=f"PARM++ ({n} candidates, reflection, correction)", unit="img") as bar:
        for i, spec in enumerate(specs):
            for j in range(J):
                runs[j][i] = search([spec["prompt"]], [i], j)
                bar.update(1)
    picks_PJHW3 = np.stack([np.concatenate([to_uint8(r.images) for r in row]) for row in runs], 1)
    detector = ShapesDetector()
    report = []
    for i, spec in enumerate(specs):
        base = [score_image(spec, im, detector) for im in base_PJHW3[i]]
        ours = [score_image(spec, im, detector) for im in picks_PJHW3[i]]
        entry = {"prompt": spec["prompt"], "base_correct": [b["correct"] for b in base],
                 "parm++_correct": [o["correct"] for o in ours], "images": []}
        if aligned_PJHW3 is not None:
            aligned = [score_image(spec, im, detector) for im in aligned_PJHW3[i]]
            entry["aligned_correct"] = [a["correct"] for a in aligned]
        for j, row in enumerate(runs):
            r = row[i]
            trace = r.trace[0]
            entry["images"].append({
                "j": j, "base": verdict(base[j]), "parm++": verdict(ours[j]), "chosen": r.chosen[0] - j * n,
                **({"aligned": verdict(aligned[j])} if aligned_PJHW3 is not None else {}),
                "pick": describe_pick(trace, r.chosen[0]),
                "verdicts": {c - j * n: v for c, v in trace["verdicts"].items()},
                "corrections": trace.get("corrections", [])})
        report.append(entry)
    save_compare_png(out / "compare.png", specs, base_PJHW3, aligned_PJHW3, picks_PJHW3, report, n)
    name = getattr(verifier, "name", type(verifier).__name__)
    atomic_write_json(out / "compare.json", {"n": n, "rounds": rounds, "verifier": name, "prompts": report})
    result = {"prompts": report, "base": float(np.mean([e["base_correct"] for e in report])),
              "parm++": float(np.mean([e["parm++_correct"] for e in report]))}
    if aligned_PJHW3 is not None:
        result["aligned"] = float(np.mean([e["aligned_correct"] for e in report]))
    return result


def print_comparison(result: dict, n: int) -> None:
    aligned = "aligned" in result
    ours = "aligned + PARM++" if aligned else "PARM++"
    print(f"\nbase sampling vs {'the DPO-aligned generator vs ' if aligned else ''}{ours} ({n} candidates, "
          "reflection + self-correction), judged by the evaluator:")
    for e in result["prompts"]:
        mid = f"aligned {sum(e['aligned_correct'])}/{len(e['aligned_correct'])}, " if aligned else ""
        print(f"  {e['prompt']!r}: base {sum(e['base_correct'])}/{len(e['base_correct'])} correct, {mid}"
              f"{ours} {sum(e['parm++_correct'])}/{len(e['parm++_correct'])}")
        for im in e["images"]:
            print(f"    image {im['j']}: PARM picked candidate {im['chosen']}: {im['pick']}")
            for c in im["corrections"]:
                print(f"      reflection {c['round']}: {c['reflection']} -> corrected, P(aligned) "
                      f"{c['p_before']:.2f} -> {c['p_after']:.2f}, {'kept' if c['accepted'] else 'undone'}")
            if not im["corrections"]:
                print("      reflection: nothing wrong")
            mid = f"aligned {im['aligned']}; " if aligned else ""
            print(f"      evaluator: base {im['base']}; {mid}{ours} {im['parm++']}")
    mid = f"aligned {result['aligned']:.2f}, " if aligned else ""
    print(f"  overall: base {result['base']:.2f}, {mid}{ours} {result['parm++']:.2f} "
          "(a handful of images: see BENCHMARKS.md for the benchmark numbers)")
