"""GenEval's rules on hand-made detections, a passing and a failing case per task."""

from imagecot.evaluation import COUNTING_THRESHOLD, MAX_OBJECTS, THRESHOLD, Detection, evaluate
from imagecot.evaluation.rules import group_detections
from imagecot.world import make_spec, parse_prompt


def D(cls, color="red", box=(0, 0, 8, 8), conf=1.0):
    x0, y0, x1, y1 = box
    return Detection(cls, color, box, conf, (x1 - x0) * (y1 - y0))


def at(x, y, s=6):
    return (x, y, x + s, y + s)


def test_constants_are_genevals():
    assert (THRESHOLD, COUNTING_THRESHOLD, MAX_OBJECTS) == (0.3, 0.9, 16)


def test_single_object():
    spec = parse_prompt("a circle")
    assert evaluate(spec, [D("circle")]) == (True, "")
    ok, reason = evaluate(spec, [D("square")])
    assert not ok and reason == "expected circle>=1, found 0"
    assert not evaluate(spec, [D("circle", conf=0.3)])[0]  # strictly above the threshold
    assert evaluate(spec, [D("circle", conf=0.31)])[0]


def test_two_object():
    spec = parse_prompt("a circle and a square")
    assert evaluate(spec, [D("circle", box=at(0, 0)), D("square", box=at(20, 20))])[0]
    ok, reason = evaluate(spec, [D("circle", box=at(0, 0)), D("triangle", box=at(20, 20))])
    assert not ok and reason == "expected square>=1, found 0"


def test_counting_exactly_n():
    spec = parse_prompt("three triangles")
    three = [D("triangle", box=at(8 * i, 0)) for i in range(3)]
    assert evaluate(spec, three) == (True, "")
    ok, reason = evaluate(spec, three + [D("triangle", box=at(0, 20))])
    assert not ok and reason == "expected triangle<4, found 4"
    ok, reason = evaluate(spec, three[:2])
    assert not ok and reason == "expected triangle>=3, found 2"
    # counting's 0.9 threshold drops a 0.5 detection (which the other tasks would count)
    assert evaluate(spec, three + [D("triangle", box=at(0, 20), conf=0.5)])[0]
    assert not evaluate(spec, three[:2] + [D("triangle", box=at(0, 20), conf=0.9)])[0]
    assert evaluate(parse_prompt("a triangle"), [D("triangle", conf=0.5)])[0]  # 0.3 elsewhere


def test_colors():
    spec = parse_prompt("a red circle")
    assert evaluate(spec, [D("circle", "red")]) == (True, "")
    ok, reason = evaluate(spec, [D("circle", "blue")])
    assert not ok and reason == "expected red circle>=1, found 0 red; and 1 blue"
    # the red object must be the circle, not another shape
    assert not evaluate(spec, [D("square", "red"), D("circle", "blue")])[0]
    # only the top-`count` circle's colour is checked, as in GenEval
    assert not evaluate(spec, [D("circle", "blue", conf=0.9), D("circle", "red", conf=0.8)])[0]
    assert evaluate(spec, [D("circle", "blue", conf=0.8), D("circle", "red", conf=0.9)])[0]


def test_position_with_margin_and_diagonals():
    spec = parse_prompt("a circle left of a square")
    assert spec["include"][1]["position"] == ["left of", 0]
    square = D("square", box=(20, 10, 28, 18))
    assert evaluate(spec, [D("circle", box=(0, 10, 8, 18)), square]) == (True, "")
    ok, reason = evaluate(spec, [D("circle", box=(30, 10, 38, 18)), square])
    assert not ok and reason == "expected circle left of square, found right of square"
    # centres 2 px apart: the 0.1 x (sum of widths) margin swallows the offset
    ok, reason = evaluate(spec, [D("circle", box=(18, 10, 26, 18)), square])
    assert not ok and "found no relation" in reason
    # diagonal: left and above both hold when the offsets are comparable ...
    sq = D("square", box=(20, 20, 28, 28))
    assert evaluate(spec, [D("circle", box=(10, 8, 18, 16)), sq])[0]
    # ... but not when the vertical offset dominates (dx normalised below 0.5)
    ok, reason = evaluate(spec, [D("circle", box=(15, 4, 23, 12)), sq])
    assert not ok and reason == "expected circle left of square, found above square"
    # a missing reference object leaves no target
    ok, reason = evaluate(spec, [D("circle", box=(0, 10, 8, 18))])
    assert not ok and reason.splitlines() == [
        "expected square>=1, found 0", "no target for circle to be left of"]


def test_color_attr():
    spec = parse_prompt("a red circle and a blue square")
    good = [D("circle", "red", at(0, 0)), D("square", "blue", at(20, 20))]
    assert evaluate(spec, good) == (True, "")
    swapped = [D("circle", "blue", at(0, 0)), D("square", "red", at(20, 20))]
    ok, reason = evaluate(spec, swapped)
    assert not ok and len(reason.splitlines()) == 2


def test_grouping_sorts_and_caps():
    dets = [D("circle", conf=0.4 + 0.01 * i, box=at(i, 0)) for i in range(20)] + [D("square", conf=0.2)]
    groups = group_detections(dets, THRESHOLD)
    assert set(groups) == {"circle"} and len(groups["circle"]) == MAX_OBJECTS
    confs = [d.confidence for d in groups["circle"]]
    assert confs == sorted(confs, reverse=True) and confs[0] == dets[19].confidence
    # exclude counts at most MAX_OBJECTS detections
    spec = make_spec([{"class": "circle", "count": 1}], tag="single_object")
    spec["exclude"] = [{"class": "circle", "count": 17}]
    assert evaluate(spec, dets)[0]


def test_verdicts_do_not_depend_on_the_detectors_palette_order():
    """Two circles of equal confidence and size: which one 'a red circle' checks goes by the blobs (box), not by
    the order the detector lists colours in, so permuting its palette changes no verdict."""
    import numpy as np

    from imagecot.evaluation.detector import ShapesDetector
    from imagecot.world.scene import Scene, SceneObject, render_scene
    from imagecot.world.vocab import COLORS
    plain, permuted = ShapesDetector(), ShapesDetector()
    order = list(reversed(range(len(COLORS))))
    permuted._colors = [COLORS[i] for i in order]
    permuted._refs_K3 = np.concatenate([plain._refs_K3[:-1][order], plain._refs_K3[-1:]])
    for left, right in (("red", "blue"), ("blue", "red"), ("green", "yellow")):
        img = render_scene(Scene(32, (SceneObject("circle", left, (2, 10, 12, 20)),
                                      SceneObject("circle", right, (18, 10, 28, 20)))))
        dets = plain(img), permuted(img)
        assert [d.color for d in dets[0]] != [d.color for d in dets[1]]  # the lists do come in other orders
        for color in (left, right):
            spec = parse_prompt(f"a {color} circle")
            verdicts = [evaluate(spec, d)[0] for d in dets]
            assert verdicts[0] == verdicts[1] == (color == left)  # the leftmost of equals is checked
