"""Structured flaws: empty exactly when the evaluator accepts; each kind of planted error is found where it is."""

import random

from imagecot.evaluation.detector import ShapesDetector
from imagecot.evaluation.diagnose import describe, diagnose
from imagecot.evaluation.rules import evaluate
from imagecot.world import TASKS, parse_prompt, sample_scene, sample_spec
from imagecot.world.benchmark import contrast_spec

DET = ShapesDetector()


def _flaws(prompt: str, drawn: str, seed: int = 0):
    spec = parse_prompt(prompt)
    img = sample_scene(parse_prompt(drawn), random.Random(seed)).render()
    dets = DET(img)
    return diagnose(spec, dets), dets


def test_no_flaws_exactly_when_the_evaluator_accepts():
    rng = random.Random(0)
    for task in TASKS:
        for _ in range(15):
            spec = sample_spec(task, rng)
            for s in (spec, contrast_spec(spec, rng)):
                dets = DET(sample_scene(s, rng).render())
                assert (diagnose(spec, dets) == []) == evaluate(spec, dets)[0], (spec["prompt"], s["prompt"])


def test_missing_object():
    flaws, _ = _flaws("three circles", "two circles")
    assert [f.kind for f in flaws] == ["missing"] and "3 circles" in flaws[0].sentence


def test_extra_object_is_located():
    flaws, dets = _flaws("two squares", "three squares")
    assert [f.kind for f in flaws] == ["extra"]
    assert flaws[0].box in [d.box for d in dets]


def test_wrong_colour_is_located():
    flaws, dets = _flaws("a red circle", "a blue circle")
    assert [f.kind for f in flaws] == ["wrong_color"] and flaws[0].box == dets[0].box
    assert "blue" in describe(flaws) and "red" in describe(flaws)


def test_wrong_position_points_at_the_subject():
    flaws, dets = _flaws("a circle left of a square", "a circle right of a square")
    circle = [d for d in dets if d.cls == "circle"][0]
    assert [f.kind for f in flaws] == ["wrong_position"] and flaws[0].box == circle.box
    assert "left of" in flaws[0].sentence and "right of" in flaws[0].sentence


def test_missing_positioned_object_points_at_its_side():
    flaws, dets = _flaws("a circle below a square", "a square")
    square = [d for d in dets if d.cls == "square"][0]
    assert [f.kind for f in flaws] == ["missing"]
    assert flaws[0].box == (0, square.box[3], 32, 32)
