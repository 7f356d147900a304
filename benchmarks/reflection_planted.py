"""How well a PARM verifier's reflection names a planted error, one kind at a time.

For training-format prompts (never benchmark strings), a scene is rendered
that breaks the prompt in exactly one way:
- missing: one of two asked objects is left out ("a red circle and a blue square" -> only the circle);
- extra: one more object than asked ("two red circles" -> three);
- wrong_color: one object in another colour;
- wrong_position: the subject on the opposite side of its reference;
plus, as a control, a scene that satisfies the prompt. The evaluator confirms
each plant (a scene it does not judge as planted is redrawn). Reported per kind:
how often the reflection names that kind, how often it names nothing, and its
P(aligned); for the control, how often it names nothing.
Usage: python benchmarks/reflection_planted.py --verifier runs/search/verifiers-ar/parm [--per-kind 100]
"""

import argparse
import json
import random

import numpy as np

from imagecot.data.images import to_tensor
from imagecot.evaluation.detector import ShapesDetector
from imagecot.evaluation.diagnose import KINDS, diagnose
from imagecot.world import make_spec, sample_scene
from imagecot.world.vocab import COLORS, MAX_COUNT, SHAPES
from imagecot.verifiers.prompts import benchmark_prompts
from imagecot.zoo import load_verifier

OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def planted(kind: str, rng: random.Random) -> tuple[dict, dict]:
    """(the prompt's spec, the spec of the scene drawn instead)."""
    a, b = rng.sample(SHAPES, 2)
    ca, cb = rng.choice(COLORS), rng.choice(COLORS)
    if kind == "extra":
        n = rng.randint(1, MAX_COUNT - 1)
        asked = make_spec([{"class": a, "count": n, "color": ca}])
        return asked, make_spec([{"class": a, "count": n + 1, "color": ca}])
    if kind == "wrong_position":
        rel = rng.choice(list(OPPOSITE))
        asked = make_spec([{"class": a, "count": 1, "color": ca},
                           {"class": b, "count": 1, "color": cb, "position": [rel, 0]}])
        return asked, make_spec([{"class": a, "count": 1, "color": ca},
                                 {"class": b, "count": 1, "color": cb, "position": [OPPOSITE[rel], 0]}])
    asked = make_spec([{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": cb}])
    if kind == "missing":
        return asked, make_spec([{"class": a, "count": 1, "color": ca}])
    if kind == "wrong_color":
        other = rng.choice([c for c in COLORS if c != cb])
        return asked, make_spec([{"class": a, "count": 1, "color": ca}, {"class": b, "count": 1, "color": other}])
    if kind == "none":
        return asked, asked
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verifier", required=True, help="a PARM verifier folder (or zoo:verifier-ar-parm)")
    ap.add_argument("--per-kind", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    verifier = load_verifier("parm", a.verifier)
    detector, rng, bench = ShapesDetector(), random.Random(a.seed), benchmark_prompts()
    report = {}
    for kind in (*KINDS, "none"):
        prompts, images = [], []
        while len(images) < a.per_kind:
            asked, drawn = planted(kind, rng)
            if asked["prompt"] in bench:
                continue
            img = sample_scene(drawn, rng).render()
            kinds = {f.kind for f in diagnose(asked, detector(img), size=img.shape[0])}
            if kinds != ({kind} if kind != "none" else set()):
                continue   # the evaluator must see exactly the planted error
            prompts.append(asked["prompt"])
            images.append(img)
        notes = verifier.reflect(to_tensor(np.stack(images)), prompts)
        named = [set(n["kinds"]) for n in notes]
        report[kind] = {"named_it": float(np.mean([kind in s for s in named])) if kind != "none" else None,
                        "named_nothing": float(np.mean([not s for s in named])),
                        "p_aligned": float(np.mean([n["p_aligned"] for n in notes])),
                        "example": {"prompt": prompts[0], "reflection": notes[0]["sentence"]}}
        print(f"{kind:15s} names it {report[kind]['named_it'] if kind != 'none' else float('nan'):.2f}  "
              f"names nothing {report[kind]['named_nothing']:.2f}  mean P(aligned) {report[kind]['p_aligned']:.2f}"
              f"  e.g. {prompts[0]!r}: {notes[0]['sentence']}", flush=True)
    if a.json:
        from imagecot.io_utils import atomic_write_json
        atomic_write_json(a.json, report)


if __name__ == "__main__":
    main()
