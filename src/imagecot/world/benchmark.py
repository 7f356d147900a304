"""The fixed, versioned benchmark prompt set of the shapes world (GenEval's proportions).

GenEval has 553 prompts: single_object 80, two_object 99, counting 80,
colors 94, position 100, color_attr 100. The shapes world has fewer distinct
prompts for some tasks (single_object has 4, two_object 12, counting 12,
colors 36, position 48), so those tasks repeat prompts: each task's distinct
specs are shuffled with a seed naming the version and the task, then cycled
until the task's count is reached (each distinct spec appears floor(n/k) or
ceil(n/k) times). Tasks with enough distinct specs (color_attr) take the first
n of the shuffle. The shipped ``data/evaluation_metadata.jsonl`` is exactly
`build_benchmark()`; regenerate it with ``python -m imagecot.world.benchmark``
and bump BENCHMARK_VERSION whenever the construction changes.

Verifiers must never train on these prompts: they are the test set.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
from pathlib import Path

from imagecot.io_utils import atomic_write_text

from .spec import Spec, all_specs, make_spec, validate_spec
from .vocab import COLORS, MAX_COUNT, OPPOSITE, SHAPES, TASKS

BENCHMARK_VERSION = "shapes-geneval-v1"
TASK_COUNTS: dict[str, int] = {
    "single_object": 80, "two_object": 99, "counting": 80,
    "colors": 94, "position": 100, "color_attr": 100,
}
METADATA_PATH = Path(__file__).with_name("data") / "evaluation_metadata.jsonl"


def _seed(task: str) -> str:
    return f"imagecot-geneval-v1-{task}"


def build_benchmark() -> list[Spec]:
    """The benchmark's specs, tasks in GenEval's order, deterministic."""
    out: list[Spec] = []
    for task in TASKS:
        specs = all_specs(task)
        random.Random(_seed(task)).shuffle(specs)
        n = TASK_COUNTS[task]
        out += [copy.deepcopy(specs[i % len(specs)]) for i in range(n)]
    return out


def _dumps(spec: Spec) -> str:
    return json.dumps(spec)  # key order as make_spec builds it: tag, include, exclude, prompt


def write_metadata_jsonl(specs: list[Spec], path: str | os.PathLike) -> None:
    """Write specs one JSON object a line (GenEval's evaluation_metadata.jsonl), atomically."""
    atomic_write_text(path, "".join(_dumps(s) + "\n" for s in specs))


def load_benchmark(path: str | os.PathLike | None = None) -> list[Spec]:
    """Read a metadata jsonl (default: the shipped benchmark), validating every line."""
    path = Path(path) if path is not None else METADATA_PATH
    if not path.is_file():
        raise FileNotFoundError(f"benchmark metadata not found: {path}")
    specs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spec = json.loads(line)
            validate_spec(spec)
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # malformed JSON or spec
            raise ValueError(f"{path}, line {lineno}: invalid benchmark spec: {e}") from e
        specs.append(spec)
    return specs


def contrast_spec(spec: Spec, rng: random.Random) -> Spec:
    """A spec of the same task that asks for something the given spec forbids.

    Renders of the result must fail the original prompt: single_object and
    colors change the shape / colour; two_object replaces one shape with one
    not in the prompt; counting moves the count by one (within 1..MAX_COUNT);
    position takes the opposite relation; color_attr swaps the two colours.
    """
    tag = spec["tag"]
    inc = [dict(r) for r in spec["include"]]
    if tag == "single_object":
        inc[0]["class"] = rng.choice([s for s in SHAPES if s != inc[0]["class"]])
    elif tag == "two_object":
        i = rng.randrange(2)
        inc[i]["class"] = rng.choice([s for s in SHAPES if s not in {r["class"] for r in inc}])
    elif tag == "counting":
        n = inc[0]["count"]
        inc[0]["count"] = rng.choice([m for m in (n - 1, n + 1) if 1 <= m <= MAX_COUNT])
    elif tag == "colors":
        inc[0]["color"] = rng.choice([c for c in COLORS if c != inc[0]["color"]])
    elif tag == "position":
        rel, j = inc[1]["position"]
        inc[1]["position"] = [OPPOSITE[rel], j]
    elif tag == "color_attr":
        inc[0]["color"], inc[1]["color"] = inc[1]["color"], inc[0]["color"]
    else:
        raise ValueError(f"unknown task {tag!r}; tasks: {', '.join(TASKS)}")
    return make_spec(inc, tag=tag)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else METADATA_PATH
    specs = build_benchmark()
    write_metadata_jsonl(specs, path)
    print(f"wrote {len(specs)} specs ({BENCHMARK_VERSION}) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
