"""The demo's second half: base sampling against PARM++ on the same prompts, with what the verifier said.

Per prompt and output image j: the base image is plain sampling's image j; PARM++
searches N candidates (seeds j*N .. j*N+N-1, as `imagecot geneval generate
--verifier parm++ --candidates N`), picks by PARM, reflects on its pick and
corrects it. Both are judged by the evaluator (the answer key the verifier never
sees). Writes `compare.png` (per row: the base images, a gap, the PARM++ images)
and `compare.json` (every verdict, reflection and correction).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data.images import save_grid_png, to_uint8
from .evaluation.detector import ShapesDetector
from .evaluation.geneval import score_image
from .io_utils import atomic_write_json
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


def compare_base_and_parm_plus_plus(gen, sampling, specs: list[dict], base_PJHW3: np.ndarray, verifier, out: Path,
                                    n: int = 8, rounds: int = 3, seed: int = 0) -> dict:
    """base_PJHW3: uint8, plain sampling's first J images per prompt (made with the same `seed`)."""
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
        for j, row in enumerate(runs):
            r = row[i]
            trace = r.trace[0]
            entry["images"].append({
                "j": j, "base": verdict(base[j]), "parm++": verdict(ours[j]), "chosen": r.chosen[0] - j * n,
                "pick": describe_pick(trace, r.chosen[0]),
                "verdicts": {c - j * n: v for c, v in trace["verdicts"].items()},
                "corrections": trace.get("corrections", [])})
        report.append(entry)
    gap = np.full((P, 1, *picks_PJHW3.shape[2:]), 255, np.uint8)
    save_grid_png(out / "compare.png", np.concatenate([base_PJHW3, gap, picks_PJHW3], 1).reshape(
        -1, *picks_PJHW3.shape[2:]), cols=2 * J + 1)
    name = getattr(verifier, "name", type(verifier).__name__)
    atomic_write_json(out / "compare.json", {"n": n, "rounds": rounds, "verifier": name, "prompts": report})
    return {"prompts": report, "base": float(np.mean([e["base_correct"] for e in report])),
            "parm++": float(np.mean([e["parm++_correct"] for e in report]))}


def print_comparison(result: dict, n: int) -> None:
    print(f"\nbase sampling vs PARM++ ({n} candidates, reflection + self-correction), judged by the evaluator:")
    for e in result["prompts"]:
        print(f"  {e['prompt']!r}: base {sum(e['base_correct'])}/{len(e['base_correct'])} correct, "
              f"PARM++ {sum(e['parm++_correct'])}/{len(e['parm++_correct'])}")
        for im in e["images"]:
            print(f"    image {im['j']}: PARM picked candidate {im['chosen']}: {im['pick']}")
            for c in im["corrections"]:
                print(f"      reflection {c['round']}: {c['reflection']} -> corrected, P(aligned) "
                      f"{c['p_before']:.2f} -> {c['p_after']:.2f}, {'kept' if c['accepted'] else 'undone'}")
            if not im["corrections"]:
                print("      reflection: nothing wrong")
            print(f"      evaluator: base {im['base']}; PARM++ {im['parm++']}")
    print(f"  overall: base {result['base']:.2f}, PARM++ {result['parm++']:.2f} "
          "(a handful of images: see BENCHMARKS.md for the benchmark numbers)")
