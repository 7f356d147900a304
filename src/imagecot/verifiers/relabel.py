"""Hindsight prompts: a rollout's final image under other prompts, labelled exactly by the evaluator.

A verifier trained only on (image, the prompt it was drawn for) can score well
by knowing which prompts its generator fails — the shipped AR gets two-colour
prompts wrong 83% of the time — without looking at the image. Pairing the same
image with other prompts forces it to look:
- near misses: the image's own prompt with one edit (another colour, shape,
  count or relation) — mostly wrong, and sometimes exactly right for an image
  that failed its own prompt (it drew a blue circle for "a red circle");
- a description: a prompt that says what the image shows, built from its
  confident detections — almost always right (the evaluator still decides:
  counting reads detections at a stricter confidence).
Each pair gets the evaluator's verdict, flaw kinds and flaw region, like a
rollout. No pair's prompt is an excluded benchmark string (`prompts.excluded_prompts`: those of the
formats the benchmark does not exhaust), nor one in `exclude` (the held-out prompts, when training).
"""

from __future__ import annotations

import random

import numpy as np

from ..evaluation.detector import ShapesDetector
from ..evaluation.diagnose import KINDS, diagnose
from ..evaluation.rules import THRESHOLD, evaluate, group_detections
from ..world import make_spec, parse_prompt
from ..world.geometry import relative_position
from ..world.vocab import COLORS, MAX_COUNT, RELATIONS, SHAPES

EDITS = ("color", "class", "count", "relation")


def near_miss(spec: dict, rng: random.Random) -> dict | None:
    """The spec with one random edit (a count edit can turn "a red circle" into "two red circles"), or None."""
    include = [dict(r) for r in spec["include"]]
    edit = rng.choice(EDITS)
    i = rng.randrange(len(include))
    req = include[i]
    if edit == "color" and "color" in req:
        req["color"] = rng.choice([c for c in COLORS if c != req["color"]])
    elif edit == "class":
        taken = {r["class"] for r in include}
        req["class"] = rng.choice([s for s in SHAPES if s not in taken] or [req["class"]])
    elif edit == "count" and len(include) == 1:
        req["count"] = rng.choice([c for c in range(2 if req["count"] > 1 else 1, MAX_COUNT + 1)
                                   if c != req["count"]] or [req["count"]])
    elif edit == "relation" and "position" in req:
        req["position"] = [rng.choice([r for r in RELATIONS if r != req["position"][0]]), req["position"][1]]
    else:
        return None
    out = make_spec(include)
    return None if out["prompt"] == spec["prompt"] else out


def describe(detections, rng: random.Random) -> dict | None:
    """A spec of what the image shows (confident detections), in a training format, or None if it shows
    nothing or more than two kinds of object."""
    groups: dict[tuple[str, str], list] = {}
    for cls, dets in group_detections(detections, THRESHOLD).items():
        for d in dets:
            groups.setdefault((d.color, cls), []).append(d)
    if not groups or len(groups) > 2 or len({cls for _, cls in groups}) < len(groups):
        return None
    items = sorted(groups.items())
    if len(items) == 1:
        (color, cls), dets = items[0]
        return make_spec([{"class": cls, "count": min(len(dets), MAX_COUNT), "color": color}])
    if any(len(d) > 1 for _, d in items):
        return None
    (c0, s0), (d0,) = items[0]
    (c1, s1), (d1,) = items[1]
    rels = sorted(relative_position(d1.box, d0.box))
    include = [{"class": s0, "count": 1, "color": c0}, {"class": s1, "count": 1, "color": c1}]
    if rels and rng.random() < 0.5:
        include[1]["position"] = [rng.choice(rels), 0]
    return make_spec(include)


def relabel_rollouts(data: dict, rows: np.ndarray, per_rollout: int = 2, seed: int = 0,
                     exclude: set[str] = frozenset(), detector=None, benchmark: set[str] | None = None) -> dict:
    """For each rollout in `rows`, up to `per_rollout` other prompts for its final image (a description when
    one exists, then near misses), labelled by the evaluator. `exclude`: prompts never to pair (the excluded
    benchmark strings always are; `benchmark` replaces that set). -> arrays over K pairs: `rollout`
    (index into data), `prompt`, `tag`, `correct`, `flaws` (K, 4), `region` (K, cells), `source`."""
    from .prompts import excluded_prompts
    from .rollouts import region_cells
    exclude = set(exclude) | (excluded_prompts() if benchmark is None else set(benchmark))
    detector = detector or ShapesDetector()
    rng = random.Random(f"relabel-{seed}")
    H = data["frames"].shape[2]
    grid = int(round(np.sqrt(data["region"].shape[1])))
    out: dict[str, list] = {k: [] for k in ("rollout", "prompt", "tag", "correct", "flaws", "region", "source")}
    for s in rows.tolist():
        dets = detector(data["frames"][s, -1])
        own = parse_prompt(str(data["prompt"][s]))
        candidates = [("description", describe(dets, rng))] + [("near_miss", near_miss(own, rng))
                                                               for _ in range(3 * per_rollout)]
        seen = {own["prompt"]}
        for source, spec in candidates:
            if spec is None or spec["prompt"] in seen or spec["prompt"] in exclude:
                continue
            seen.add(spec["prompt"])
            flaws = diagnose(spec, dets, size=H)
            out["rollout"].append(s)
            out["source"].append(source)
            out["prompt"].append(spec["prompt"])
            out["tag"].append(spec["tag"])
            out["correct"].append(evaluate(spec, dets)[0])
            out["flaws"].append([any(f.kind == k for f in flaws) for k in KINDS])
            out["region"].append(region_cells(flaws, grid, H))
            if len(seen) > per_rollout:
                break
    K = len(out["rollout"])
    return {"rollout": np.array(out["rollout"], np.int64), "prompt": np.array(out["prompt"], dtype=str),
            "source": np.array(out["source"], dtype=str),
            "tag": np.array(out["tag"], dtype=str), "correct": np.array(out["correct"], bool),
            "flaws": np.array(out["flaws"], bool).reshape(K, len(KINDS)),
            "region": np.array(out["region"], bool).reshape(K, grid * grid)}
