"""Training prompts for verifiers and preference data: the rule of the verifier papers, made exact.

- Never a benchmark image or seed: training images are seeded with
  `seeds.training_seed`, which is never an `image_seed`.
- Formats that the benchmark exhausts (every string the grammar has for them is
  a benchmark string: single_object, two_object, counting, colors and position
  in the 4-shape world) are trained on, benchmark strings included, since there
  is nothing else of that format; only the seeds differ.
- Every other format (color_attr: 864 strings, 100 in the benchmark) is trained
  on without the benchmark's exact strings.
- Two composed formats add prompts the benchmark never asks, exercising the
  same skills: counting with a colour ("three red circles") and position with
  colours ("a red circle left of a blue square"). The GenEval tag of a composed
  spec is its task (counting, position), so the evaluator applies that task's
  rules.
- Reports split their metrics by task and by benchmark-string vs other-string
  prompts (`is_benchmark_string`).
"""

from __future__ import annotations

import random
from collections import Counter
from functools import lru_cache

from ..world import TASKS, make_spec, sample_spec
from ..world.benchmark import load_benchmark
from ..world.spec import all_specs
from ..world.vocab import COLORS, MAX_COUNT, RELATIONS, SHAPES

COMPOSED = ("colored_counting", "colored_position")


def prompt_format(spec: dict) -> str:
    """The grammar format a spec is of: its task tag, or a composed format (colored_counting, colored_position)
    where a counting or position prompt names colours. The benchmark holds no composed prompt, so a choice made
    per tag on validation prompts could rest on prompts unlike the benchmark's: choose per format."""
    tag = spec["tag"]
    if f"colored_{tag}" in COMPOSED and any("color" in req for req in spec.get("include", [])):
        return f"colored_{tag}"
    return tag


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


# how often each format is drawn: binding (color_attr) is where verifiers fail, so it gets twice the share
FORMAT_WEIGHTS = {"single_object": 1, "two_object": 1, "counting": 1, "colors": 1, "position": 1, "color_attr": 2,
                  "colored_counting": 1, "colored_position": 1}


def benchmark_prompts(path=None) -> set[str]:
    return {s["prompt"] for s in load_benchmark(path)}


@lru_cache(maxsize=4)
def _exhausted(benchmark: frozenset[str]) -> frozenset[str]:
    return frozenset(t for t in TASKS if {s["prompt"] for s in all_specs(t)} <= benchmark)


def exhausted_formats(benchmark: set[str] | None = None) -> set[str]:
    """Tasks whose every grammar string is a benchmark string (trained on, with training seeds)."""
    return set(_exhausted(frozenset(benchmark_prompts() if benchmark is None else benchmark)))


def excluded_prompts(path=None) -> set[str]:
    """The prompts no training example may use: the benchmark's strings of every format it does not exhaust."""
    specs = load_benchmark(path)
    open_formats = exhausted_formats({s["prompt"] for s in specs})
    return {s["prompt"] for s in specs if s["tag"] not in open_formats}


def check_training_prompts(prompts, excluded: set[str] | None = None) -> None:
    """ValueError if any prompt is an excluded benchmark string (a verifier trained on the test prompts of a
    format with other strings would overstate every search result)."""
    leaked = sorted(set(prompts) & (excluded_prompts() if excluded is None else excluded))
    if leaked:
        raise ValueError(f"{len(leaked)} training prompts are benchmark strings of a format the benchmark does not "
                         f"exhaust (e.g. {leaked[0]!r}); draw training prompts with "
                         "imagecot.verifiers.prompts.training_specs, which excludes them")


def is_benchmark_string(prompts, benchmark: set[str] | None = None):
    """Per prompt: is it a benchmark string (for the split reports)."""
    bench = benchmark_prompts() if benchmark is None else benchmark
    return [p in bench for p in prompts]


def training_specs(n: int, seed: int = 0, exclude: set[str] | None = None, tries: int = 200,
                   weights: dict[str, float] | None = None) -> list[dict]:
    """n specs drawn over the six task formats and the composed ones (`weights`, default FORMAT_WEIGHTS), none of
    whose prompt is in `exclude` (default: `excluded_prompts()`). A format whose draws all hit the exclusion is
    retired."""
    exclude = excluded_prompts() if exclude is None else exclude
    weights = dict(FORMAT_WEIGHTS if weights is None else weights)
    rng = random.Random(f"verifier-prompts-{seed}")
    out = []
    while len(out) < n:
        if not weights:
            raise ValueError("every format is exhausted by the exclusion set")
        fmt = rng.choices(list(weights), list(weights.values()))[0]
        for _ in range(tries):
            spec = sample_spec(fmt, rng) if fmt in TASKS else sample_composed(fmt, rng)
            if spec["prompt"] not in exclude:
                out.append({**spec, "format": fmt})
                break
        else:
            del weights[fmt]
    return out


def format_counts(specs: list[dict]) -> dict[str, int]:
    return dict(Counter(s["format"] for s in specs))
