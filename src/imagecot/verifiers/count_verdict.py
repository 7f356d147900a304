"""The verdict a verifier's `counts` head implies: P(the image meets the prompt's object requirements).

The learned verifier predicts, per coloured shape k, a distribution over how many confident objects of that kind
the image holds (`counts`: (36, 5) over 0, 1, 2, 3, 4+). Read as independent per kind, that distribution implies
a probability for each of GenEval's requirements:
- `count` n of a class (any colour): the class total (the kinds' counts convolved, capped at 4+) is >= n;
- `count` n of a colour: at least n objects of that colour and class; GenEval checks the colour of the n most
  confident objects of the class, so where other colours of the class are present too, half credit (which of
  them is more confident is not predicted);
- `exclude` (counting's "exactly n"): the class total is < the excluded count.
The verdict is their product. Relations (`position`) are not read: the counts say nothing about where objects
are, so position prompts are scored on their objects only. This is a verifier's own judgement from its own heads,
learned from the evaluator's labels like every other head; the evaluator is never called.
"""

from __future__ import annotations

import torch

from ..world.vocab import COLORS, SHAPES

MAX_COUNT_CLASS = 4   # the counts head's classes 0..4 (4 = four or more)


def kind_index(cls: str, color: str) -> int:
    """Row of the counts head for one coloured shape (the parse classes are this + 1; 0 is background)."""
    return SHAPES.index(cls) * len(COLORS) + COLORS.index(color)


def capped_sum(dists_K5: torch.Tensor) -> torch.Tensor:
    """(5,) distribution of the sum of independent counts, each (5,) over 0..3, 4+, capped at 4+."""
    total_5 = torch.zeros(MAX_COUNT_CLASS + 1, dtype=dists_K5.dtype)
    total_5[0] = 1.0
    for d_5 in dists_K5:
        conv = torch.zeros(2 * MAX_COUNT_CLASS + 1, dtype=dists_K5.dtype)
        for a in range(MAX_COUNT_CLASS + 1):
            conv[a:a + MAX_COUNT_CLASS + 1] += total_5[a] * d_5
        total_5 = torch.cat([conv[:MAX_COUNT_CLASS], conv[MAX_COUNT_CLASS:].sum(0, keepdim=True)])
    return total_5


def count_verdict(spec: dict, counts_K5: torch.Tensor) -> float:
    """P(spec's include and exclude requirements hold) under the counts distribution (36, 5) of one image."""
    counts_K5 = counts_K5.double()
    p = 1.0
    for req in spec.get("include", []):
        cls, n = req["class"], req["count"]
        rows = [kind_index(cls, c) for c in COLORS]
        if "color" not in req:
            p *= float(capped_sum(counts_K5[rows])[n:].sum())
            continue
        own = kind_index(cls, req["color"])
        at_least = float(counts_K5[own][n:].sum())
        others_absent = float(capped_sum(counts_K5[[r for r in rows if r != own]])[0])
        p *= at_least * (others_absent + 0.5 * (1.0 - others_absent))
    for req in spec.get("exclude", []):
        cls = req["class"]
        total_5 = capped_sum(counts_K5[[kind_index(cls, c) for c in COLORS]])
        p *= float(total_5[:min(req["count"], MAX_COUNT_CLASS + 1)].sum())
    return p
