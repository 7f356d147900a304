"""How well a PARM verifier's reflection names a planted error, one kind at a time.

For training-format prompts (never benchmark strings), a scene is rendered
that breaks the prompt in exactly one way:
- missing: one of two asked objects is left out ("a red circle and a blue square" -> only the circle);
- extra: one more object than asked ("two red circles" -> three);
- wrong_color: one object in another colour;
- wrong_position: the subject on the opposite side of its reference;
plus, as a control, a scene that satisfies the prompt. The evaluator confirms
each plant (a scene it does not judge as planted is redrawn). Each kind comes
with its own prompt format, so each kind has a control: correct scenes of that
same format. Reported per kind: how often the reflection names the kind on the
planted scenes and on the control (a verifier that names it from the prompt
alone scores the same on both), how often it names nothing, and P(aligned).
Usage: python benchmarks/reflection_planted.py --verifier runs/search/verifiers-ar/parm [--per-kind 100]
"""

import argparse
import random

import numpy as np

from imagecot.data.images import to_tensor
from imagecot.evaluation.detector import ShapesDetector
from imagecot.evaluation.diagnose import KINDS, diagnose
from imagecot.verifiers.prompts import benchmark_prompts
from imagecot.world import make_spec, sample_scene
from imagecot.world.vocab import COLORS, MAX_COUNT, OPPOSITE, SHAPES
from imagecot.zoo import load_verifier


def planted(kind: str, rng: random.Random, control: bool = False) -> tuple[dict, dict]:
    """(the prompt's spec, the spec of the scene drawn instead; with `control`, the prompt's own)."""
    asked, drawn = _planted(kind, rng)
    return (asked, asked) if control else (asked, drawn)


def _planted(kind: str, rng: random.Random) -> tuple[dict, dict]:
    a, b = rng.sample(SHAPES, 2)
    ca, cb = rng.choice(COLORS), rng.choice(COLORS)
    if kind == "extra":
        n = rng.randint(2, MAX_COUNT - 1)
        asked = make_spec([{"class": a, "count": n, "color": ca}])
        return asked, make_spec([{"class": a, "count": n + 1, "color": ca}])
    if kind == "wrong_position":
        rel = rng.choice(sorted(OPPOSITE))
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
    resolution = verifier.net.config.resolution

    def scenes(kind: str, control: bool):
        prompts, images = [], []
        for _ in range(1000 * a.per_kind):
            if len(images) == a.per_kind:
                return prompts, images
            asked, drawn = planted(kind, rng, control)
            if asked["prompt"] in bench:
                continue
            img = sample_scene(drawn, rng, resolution=resolution).render()
            if {f.kind for f in diagnose(asked, detector(img), size=resolution)} != (set() if control else {kind}):
                continue   # the evaluator must see exactly the planted error (none for a control)
            prompts.append(asked["prompt"])
            images.append(img)
        raise RuntimeError(f"could not draw {a.per_kind} scenes of kind {kind} (control={control})")

    report = {}
    for kind in KINDS:
        row = {}
        for name, control in (("planted", False), ("control", True)):
            prompts, images = scenes(kind, control)
            notes = verifier.reflect(to_tensor(np.stack(images)), prompts)
            row[name] = {"names_it": float(np.mean([kind in n["kinds"] for n in notes])),
                         "names_nothing": float(np.mean([not n["kinds"] for n in notes])),
                         "p_aligned": float(np.mean([n["p_aligned"] for n in notes])),
                         "example": {"prompt": prompts[0], "reflection": notes[0]["sentence"]}}
        report[kind] = row
        pl, co = row["planted"], row["control"]
        print(f"{kind:15s} names it: planted {pl['names_it']:.2f}, control {co['names_it']:.2f}   names nothing: "
              f"planted {pl['names_nothing']:.2f}, control {co['names_nothing']:.2f}   P(aligned): planted "
              f"{pl['p_aligned']:.2f}, control {co['p_aligned']:.2f}   e.g. {pl['example']['prompt']!r}: "
              f"{pl['example']['reflection']}", flush=True)
    if a.json:
        from imagecot.io_utils import atomic_write_json
        atomic_write_json(a.json, report)


if __name__ == "__main__":
    main()
