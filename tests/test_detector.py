"""ShapesDetector: exact on the world's renders, robust to specks and foreign colours."""

import random

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from imagecot.evaluation import Detection, Detector, ShapesDetector, to_rgb_array
from imagecot.world import BACKGROUND, COLORS, SHAPES, Scene, SceneObject, all_specs, sample_scene
from imagecot.world.shapes import shape_mask


def _key(d):
    return (d.cls, d.color, tuple(d.box))


@pytest.mark.parametrize("res", [32, 64])
def test_exact_on_every_shape_and_colour(res):
    det = ShapesDetector()
    assert isinstance(det, Detector)
    s = res // 32
    boxes = [(1 * s, 1 * s, 14 * s, 14 * s), (17 * s, 1 * s, 31 * s, 15 * s),
             (1 * s, 17 * s, 12 * s, 28 * s), (16 * s, 18 * s, 25 * s, 27 * s)]
    for k, color in enumerate(COLORS):
        shapes = SHAPES[k % 4:] + SHAPES[:k % 4]  # every shape in every box over the colours
        scene = Scene(res, tuple(SceneObject(sh, color, b) for sh, b in zip(shapes, boxes)))
        found = det(scene.render())
        assert sorted(map(_key, found)) == sorted((o.shape, o.color, o.box) for o in scene.objects)
        assert all(d.confidence == pytest.approx(1.0) for d in found)
        areas = {(o.shape, o.color, o.box): int(shape_mask(o.shape, o.box[2] - o.box[0],
                                                          o.box[3] - o.box[1]).sum())
                 for o in scene.objects}
        assert {_key(d): d.area for d in found} == areas


@pytest.mark.parametrize("res", [32, 64])
def test_exact_on_sampled_scenes(res):
    det = ShapesDetector()
    rng = random.Random(res)
    for task in ("counting", "color_attr", "position"):
        for spec in rng.sample(all_specs(task), 6):
            scene = sample_scene(spec, rng, resolution=res)
            found = det(scene.render())
            assert sorted(map(_key, found)) == sorted((o.shape, o.color, o.box) for o in scene.objects)
            assert min(d.confidence for d in found) == pytest.approx(1.0)


def test_non_square_image_and_pil_input():
    img = np.full((40, 24, 3), BACKGROUND, np.uint8)
    img[5:15, 3:13] = (20, 60, 230)  # a blue square
    det = ShapesDetector()
    assert [_key(d) for d in det(img)] == [("square", "blue", (3, 5, 13, 15))]
    rgba = np.zeros((40, 24, 4), np.uint8)  # transparent -> background
    rgba[5:15, 3:13] = (20, 60, 230, 255)
    assert [_key(d) for d in det(Image.fromarray(rgba))] == [("square", "blue", (3, 5, 13, 15))]
    assert to_rgb_array(Image.fromarray(img[..., 0])).shape == (40, 24, 3)
    with pytest.raises(TypeError):
        det(img.astype(np.float32))


def test_unknown_colours_ignored():
    img = np.full((32, 32, 3), BACKGROUND, np.uint8)
    img[4:14, 4:14] = (0, 255, 255)  # cyan: far from every palette colour
    img[18:28, 18:28] = (220, 20, 20)  # red
    assert [_key(d) for d in ShapesDetector()(img)] == [("square", "red", (18, 18, 28, 28))]


@pytest.mark.parametrize("res,blob", [(32, 3), (64, 6)])
def test_tiny_blobs_dropped(res, blob):
    img = np.full((res, res, 3), BACKGROUND, np.uint8)
    img[2:2 + blob, 2:2 + blob] = (220, 20, 20)  # 9 px at 32, 36 px at 64: below the min area
    img[res // 2:res // 2 + 4 * blob, res // 2:res // 2 + 4 * blob] = (20, 150, 40)
    found = ShapesDetector()(img)
    assert [d.color for d in found] == ["green"]


def test_noise_and_malformed_blobs_lower_confidence_but_edge_blur_does_not():
    scene = Scene(32, (SceneObject("circle", "red", (8, 8, 22, 22)),))
    img = scene.render()
    det = ShapesDetector()
    noisy = (img + np.random.default_rng(0).normal(0, 30, img.shape)).round().clip(0, 255).astype(np.uint8)
    bitten = img.copy()
    bitten[8:15, 8:15] = BACKGROUND  # a quarter of the circle missing
    blurred = np.stack([ndimage.gaussian_filter(img[..., c].astype(float), 1.0) for c in range(3)],
                       -1).round().astype(np.uint8)
    for bad in (noisy, bitten):
        best = max(det(bad), key=lambda d: d.confidence)
        assert best.color == "red"
        assert 0.3 < best.confidence < 0.9
    found = det(blurred)
    best = max(found, key=lambda d: d.confidence)
    assert (best.cls, best.color) == ("circle", "red") and best.confidence > 0.9
    assert all(d.confidence < 0.3 for d in found if d is not best)  # halo specks stay below threshold


def test_detection_dict_round_trip():
    d = Detection("circle", "red", (1, 2, 3, 4), 0.5, 7)
    assert Detection.from_dict(d.to_dict()) == d
