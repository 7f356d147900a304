"""Scenes of the shapes world: sample one that satisfies a spec, render it, keep its truth."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np

from .geometry import Box, boxes_apart, relative_position
from .shapes import shape_mask
from .spec import Spec, validate_spec
from .vocab import BACKGROUND, COLORS, PALETTE

BASE_RESOLUTION = 32


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) pixels, exclusive ends

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scene:
    resolution: int
    objects: tuple[SceneObject, ...]

    def render(self) -> np.ndarray:
        """uint8 image of shape (resolution, resolution, 3)."""
        return render_scene(self)

    def to_dict(self) -> dict:
        return {"resolution": self.resolution, "objects": [o.to_dict() for o in self.objects]}


def render_scene(scene: Scene) -> np.ndarray:
    img_HW3 = np.empty((scene.resolution, scene.resolution, 3), dtype=np.uint8)
    img_HW3[:] = BACKGROUND
    for obj in scene.objects:
        x0, y0, x1, y1 = obj.box
        mask = shape_mask(obj.shape, x1 - x0, y1 - y0)
        img_HW3[y0:y1, x0:x1][mask] = PALETTE[obj.color]
    return img_HW3


class SceneSamplingError(RuntimeError):
    """No placement satisfying the spec was found (resolution too small for the objects)."""


def _size_range(n_objects: int, resolution: int) -> tuple[int, int]:
    scale = resolution / BASE_RESOLUTION
    lo, hi = {1: (8, 15), 2: (8, 12), 3: (8, 11)}.get(n_objects, (8, 10))
    return max(3, round(lo * scale)), max(3, round(hi * scale))


def sample_scene(spec: Spec, rng: random.Random, resolution: int = BASE_RESOLUTION,
                 margin: int = 1, gap: int = 2, max_tries: int = 2000) -> Scene:
    """A random scene that satisfies `spec` and only it.

    Objects do not touch (at least `gap` pixels apart); an object without a
    colour in the spec gets a random one; a positioned pair is placed so that
    GenEval's rule finds exactly the asked relation (no diagonal ambiguity).
    """
    validate_spec(spec)
    items: list[tuple[int, str, str | None]] = []  # (include index, shape, colour or None)
    for i, req in enumerate(spec["include"]):
        items += [(i, req["class"], req.get("color"))] * req["count"]
    lo, hi = _size_range(len(items), resolution)
    scale = resolution / BASE_RESOLUTION
    gap_px = max(1, round(gap * scale))
    for _ in range(max_tries):
        boxes: list[Box] = []
        ok = True
        for _item in items:
            for _attempt in range(50):
                s = rng.randint(lo, hi)
                x0 = rng.randint(margin, resolution - margin - s)
                y0 = rng.randint(margin, resolution - margin - s)
                box = (x0, y0, x0 + s, y0 + s)
                if all(boxes_apart(box, b, gap_px) for b in boxes):
                    boxes.append(box)
                    break
            else:
                ok = False
                break
        if not ok or not _relations_hold(spec, items, boxes):
            continue
        objects = tuple(
            SceneObject(shape, color or rng.choice(COLORS), box)
            for (_i, shape, color), box in zip(items, boxes))
        return Scene(resolution, objects)
    raise SceneSamplingError(
        f"could not place {spec.get('prompt', spec)!r} at {resolution}x{resolution} in {max_tries} tries")


def _relations_hold(spec: Spec, items, boxes) -> bool:
    for i, req in enumerate(spec["include"]):
        if "position" not in req:
            continue
        rel, j = req["position"]
        subj = [b for (k, _s, _c), b in zip(items, boxes) if k == i]
        refs = [b for (k, _s, _c), b in zip(items, boxes) if k == j]
        if not all(relative_position(a, b) == {rel} for a in subj for b in refs):
            return False
    return True
