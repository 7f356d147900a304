"""The verdict a verifier's `counts` head implies: P(the image meets the prompt's object requirements).

The learned verifier predicts, per coloured shape k, a distribution over how many confident objects of that kind
the image holds (`counts`: (36, 5) over 0, 1, 2, 3, 4+). Read as independent per kind, that distribution implies
a probability for each of GenEval's requirements:
- `count` n of a class (any colour): the class total (the kinds' counts convolved, capped at 4+) is >= n;
- `count` n of a colour: at least n objects of that colour and class; GenEval checks the colour of the n most
  confident objects of the class, so where other colours of the class are present too, half credit (which of
  them is more confident is not predicted). Where the parse is given, a requirement of one object reads its
  colour from the parse instead: the class is present (its total >= 1) and the share of the class's parse cells
  in the required colour (`colour_share`) is the chance that its most confident object has that colour. The
  counts head predicts each kind's count on its own and confuses which colour goes with which shape (on `make
  demo`'s images, "a blue diamond and a yellow circle" drawn with the colours swapped still had P(a blue
  diamond) 0.6); the parse binds colour to shape cell by cell. Two or more objects keep the counts head's
  own-kind count: the parse's cells do not separate objects;
- `exclude` (counting's "exactly n"): the class total is < the excluded count.
The verdict is their product. Relations (`position`) are read from the `parse` head (per cell of the verifier's
grid: background or which coloured shape covers it), where it is given: each object's expected cells give its
centre and size (a square of its expected area), GenEval's rule (`world.geometry.revised_offset`) gives the
relation's margin, and a logistic of that margin (`RELATION_SOFTNESS`) its probability. Without the parse,
position prompts are scored on their objects only. This is a verifier's own judgement from its own heads,
learned from the evaluator's labels like every other head; the evaluator is never called.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..world.geometry import RELATION_AXIS, revised_offset
from ..world.vocab import COLORS, SHAPES

MAX_COUNT_CLASS = 4   # the counts head's classes 0..4 (4 = four or more)
RELATION_SOFTNESS = 0.05  # the relation's margin (GenEval's 0.5 on the revised offset) over this, in a logistic
MIN_CELLS = 0.5           # an object of fewer expected parse cells has no place: its relation is a coin flip


def kind_index(cls: str, color: str) -> int:
    """Row of the counts head for one coloured shape (the parse classes are this + 1; 0 is background)."""
    return SHAPES.index(cls) * len(COLORS) + COLORS.index(color)


def capped_sum(dists_K5) -> np.ndarray:
    """(5,) float64 distribution of the sum of independent counts, each (5,) over 0..3, 4+, capped at 4+."""
    total_5 = np.zeros(MAX_COUNT_CLASS + 1)
    total_5[0] = 1.0
    for d_5 in np.asarray(dists_K5, np.float64):
        conv = np.convolve(total_5, d_5)
        total_5 = np.append(conv[:MAX_COUNT_CLASS], conv[MAX_COUNT_CLASS:].sum())
    return total_5


def _kinds(cls: str, color: str | None = None) -> list[int]:
    """Counts rows (parse classes - 1) of a shape in one colour, or in any colour."""
    return [kind_index(cls, c) for c in ([color] if color else COLORS)]


@lru_cache(maxsize=None)
def _cell_centres(g: int) -> np.ndarray:
    """(g*g, 2) float64: (x, y) of each cell's centre, in cells, row-major."""
    ys, xs = np.meshgrid(np.arange(g, dtype=np.float64), np.arange(g, dtype=np.float64), indexing="ij")
    return np.stack([xs.reshape(-1), ys.reshape(-1)], 1) + 0.5


def relation_probability(relation: str, parse_NC, kinds_a: list[int], kinds_b: list[int]) -> float:
    """P(A is `relation` B) read from the parse distribution (N = g*g cells, 1 + 36 classes) of one image."""
    parse_NC = np.asarray(parse_NC, np.float64)
    xy_N2 = _cell_centres(math.isqrt(parse_NC.shape[0]))
    placed = []
    for kinds in (kinds_a, kinds_b):
        w_N = parse_NC[:, [k + 1 for k in kinds]].sum(1)
        cells = float(w_N.sum())
        if cells < MIN_CELLS:
            return 0.5
        placed.append((w_N @ xy_N2 / cells, math.sqrt(cells)))
    (center_a, side_a), (center_b, side_b) = placed
    d = revised_offset(center_a, side_a, center_b, side_b)
    axis, sign = RELATION_AXIS[relation]
    margin = -0.5 if d is None else sign * float(d[axis]) - 0.5
    return 1.0 / (1.0 + math.exp(-margin / RELATION_SOFTNESS))


def misplaced_cells(spec: dict, parse_NC: torch.Tensor) -> torch.Tensor | None:
    """(N,) bool: the parse cells (most likely class) of both objects of every relation in `spec` that the parse
    judges unmet (`relation_probability` < 0.5), or None where none is (or the prompt has no relation): where
    PARM++'s reflection says "wrong position" and which cells it asks the generator to redo."""
    include, label_N, cells_N = spec.get("include", []), parse_NC.argmax(1), None
    for req in include:
        if "position" not in req:
            continue
        relation, j = req["position"]
        kinds_a = _kinds(req["class"], req.get("color"))
        kinds_b = _kinds(include[j]["class"], include[j].get("color"))
        if relation_probability(relation, parse_NC, kinds_a, kinds_b) < 0.5:
            objects_N = torch.isin(label_N, torch.tensor([k + 1 for k in kinds_a + kinds_b]))
            cells_N = objects_N if cells_N is None else cells_N | objects_N
    return cells_N


def colour_share(parse_NC, cls: str, color: str) -> float | None:
    """The share of the parse's expected cells of shape `cls` (any colour) that are `color`, or None where the
    class covers fewer than MIN_CELLS cells (the parse does not place it)."""
    cells_K = np.asarray(parse_NC, np.float64)[:, [k + 1 for k in _kinds(cls)]].sum(0)
    total = float(cells_K.sum())
    return None if total < MIN_CELLS else float(cells_K[COLORS.index(color)]) / total


def count_verdict(spec: dict, counts_K5, parse_NC=None) -> float:
    """P(spec's include and exclude requirements hold) under the counts distribution (36, 5) of one image, and
    its relations under the parse distribution (N, 37) where given (tensors or arrays)."""
    counts_K5 = np.asarray(counts_K5, np.float64)
    parse_NC = None if parse_NC is None else np.asarray(parse_NC, np.float64)
    p = 1.0
    include = spec.get("include", [])
    for req in include:
        if "position" in req and parse_NC is not None:
            relation, j = req["position"]
            p *= relation_probability(relation, parse_NC, _kinds(req["class"], req.get("color")),
                                      _kinds(include[j]["class"], include[j].get("color")))
        cls, n = req["class"], req["count"]
        rows = _kinds(cls)
        if "color" not in req:
            p *= float(capped_sum(counts_K5[rows])[n:].sum())
            continue
        share = None if parse_NC is None or n != 1 else colour_share(parse_NC, cls, req["color"])
        if share is not None:
            p *= float(capped_sum(counts_K5[rows])[1:].sum()) * share
            continue
        own = kind_index(cls, req["color"])
        at_least = float(counts_K5[own][n:].sum())
        others_absent = float(capped_sum(counts_K5[[r for r in rows if r != own]])[0])
        p *= at_least * (others_absent + 0.5 * (1.0 - others_absent))
    for req in spec.get("exclude", []):
        cls = req["class"]
        total_5 = capped_sum(counts_K5[_kinds(cls)])
        p *= float(total_5[:min(req["count"], MAX_COUNT_CLASS + 1)].sum())
    return p
