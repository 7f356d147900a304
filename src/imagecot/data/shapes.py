"""The shapes stream: (spec, scene, image) batches, deterministic for (seed, step)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..world import TASKS, Scene, Spec, sample_scene, sample_spec

# Training weights per task: harder compositional tasks are seen more often.
DEFAULT_TASK_WEIGHTS: dict[str, float] = {
    "single_object": 1.0, "two_object": 1.0, "counting": 1.5,
    "colors": 1.0, "position": 1.5, "color_attr": 1.5,
}


@dataclass
class ShapesBatch:
    specs: list[Spec]
    scenes: list[Scene]
    images_BHW3: np.ndarray  # uint8


class ShapesStream:
    """Endless batches of random specs rendered into scenes.

    Batch `step` depends only on (seed, step), so a resumed run sees exactly the
    data it would have seen without the interruption.
    """

    def __init__(self, seed: int = 0, resolution: int = 32,
                 task_weights: dict[str, float] | None = None, exclude_prompts: set[str] | None = None):
        self.seed = seed
        self.resolution = resolution
        weights = task_weights or DEFAULT_TASK_WEIGHTS
        unknown = set(weights) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown task(s) {sorted(unknown)} in task_weights; tasks: {TASKS}")
        self.tasks = [t for t in TASKS if weights.get(t, 0) > 0]
        self.weights = [weights[t] for t in self.tasks]
        self.exclude_prompts = exclude_prompts or set()

    def sample_spec(self, rng: random.Random) -> Spec:
        for _ in range(1000):
            spec = sample_spec(rng.choices(self.tasks, self.weights)[0], rng)
            if spec["prompt"] not in self.exclude_prompts:
                return spec
        raise RuntimeError("every sampled prompt is excluded; the exclusion set covers the grammar")

    def batch(self, step: int, batch_size: int) -> ShapesBatch:
        rng = random.Random(f"{self.seed}-{step}")
        specs = [self.sample_spec(rng) for _ in range(batch_size)]
        scenes = [sample_scene(s, rng, self.resolution) for s in specs]
        return ShapesBatch(specs, scenes, np.stack([sc.render() for sc in scenes]))
