"""Training prompts for verifiers: drawn from the task grammar, never a benchmark prompt string.

The benchmark (`shapes-geneval-v1`) lists every distinct prompt of five of its
six tasks for the 4 shapes, so the six formats alone leave almost nothing but
color_attr. Two composed formats fill the gap with prompts the benchmark never
asks, exercising the same skills: counting with a colour ("three red
circles") and position with colours ("a red circle left of a blue square").
The GenEval tag of a composed spec is its task (counting, position), so the
evaluator applies that task's rules.
"""

from __future__ import annotations

import random
from collections import Counter

from ..world import TASKS, make_spec, sample_spec
from ..world.benchmark import load_benchmark
from ..world.vocab import COLORS, MAX_COUNT, RELATIONS, SHAPES

COMPOSED = ("colored_counting", "colored_position")


def sample_composed(fmt: str, rng: random.Random) -> dict:
    if fmt == "colored_counting":
        return make_spec([{"class": rng.choice(SHAPES), "count": rng.randint(2, MAX_COUNT),
                           "color": rng.choice(COLORS)}])
    if fmt == "colored_position":
        ref, sub = rng.sample(SHAPES, 2)
        c1, c2 = rng.choice(COLORS), rng.choice(COLORS)
        return make_spec([{"class": ref, "count": 1, "color": c1},
                          {"class": sub, "count": 1, "color": c2, "position": [rng.choice(RELATIONS), 0]}])
    raise ValueError(f"unknown composed format {fmt!r}; expected one of {COMPOSED}")


def benchmark_prompts(path=None) -> set[str]:
    return {s["prompt"] for s in load_benchmark(path)}


def training_specs(n: int, seed: int = 0, exclude: set[str] | None = None, tries: int = 200) -> list[dict]:
    """n specs over the six task formats and the composed ones, none of whose prompt is in `exclude`
    (default: every benchmark prompt string). A format whose draws all hit the exclusion is retired."""
    exclude = benchmark_prompts() if exclude is None else exclude
    rng = random.Random(f"verifier-prompts-{seed}")
    formats = list(TASKS) + list(COMPOSED)
    out = []
    while len(out) < n:
        if not formats:
            raise ValueError("every format is exhausted by the exclusion set")
        fmt = rng.choice(formats)
        for _ in range(tries):
            spec = sample_spec(fmt, rng) if fmt in TASKS else sample_composed(fmt, rng)
            if spec["prompt"] not in exclude:
                out.append({**spec, "format": fmt})
                break
        else:
            formats.remove(fmt)
    return out


def format_counts(specs: list[dict]) -> dict[str, int]:
    return dict(Counter(s["format"] for s in specs))
