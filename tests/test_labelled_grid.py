"""Labelled grids: labels and marks add room and draw where expected; plain grids are the bare tiling; bad input
is a ValueError that says what was expected."""

import numpy as np
import pytest
from PIL import Image

from imagecot.data.images import save_grid_png
from imagecot.labelled_grid import FAIL, PASS, Mark, labelled_grid, save_labelled_grid


def _images(n=4, h=8, w=8, value=128):
    return np.full((n, h, w, 3), value, np.uint8)


def test_plain_grid_is_the_bare_tiling():
    big = np.asarray(labelled_grid(_images(5), cols=3, scale=2, pad=1))
    assert big.shape == (2 * (16 + 2) + 2, 3 * (16 + 2) + 2, 3)   # 2 rows x 3 columns, pad 1 scaled by 2
    assert (big[2:18, 2:18] == 128).all() and (big[:2] == 255).all()
    assert (big[20:36, 38:54] == 255).all()                       # the short last row leaves its slot blank


def test_labels_titles_and_marks_make_the_picture_bigger():
    imgs = _images(4)
    w0, h0 = labelled_grid(imgs, cols=2).size
    w1, h1 = labelled_grid(imgs, cols=2, row_labels=["a", "b"], column_titles=["x", "y"], title="t",
                           image_marks=[Mark(True)] * 4).size
    assert w1 >= w0 and h1 > h0
    # a label wider than the grid widens the picture rather than being cut off
    assert labelled_grid(imgs, cols=2, row_labels=["a long prompt: two red circles left of a square", "b"]).width > w0


def test_row_labels_draw_text_above_their_row():
    imgs = _images(2, w=64, value=255)   # white images wide enough for the labels: any dark pixel is text
    plain = np.asarray(labelled_grid(imgs, cols=1, row_labels=["", ""]))
    text = np.asarray(labelled_grid(imgs, cols=1, row_labels=["a circle", "two squares"]))
    assert plain.shape == text.shape and (plain == 255).all()
    dark_y = np.nonzero((text < 128).any(axis=(1, 2)))[0]
    row_h = text.shape[0] // 2
    assert (dark_y < row_h - 8 * 4).any() and (dark_y >= row_h).any()   # in each row's band above its image
    assert (dark_y < text.shape[0] - 8 * 4).all()


def _colour_count(a, rgb):
    return int((np.abs(a.astype(int) - np.array(rgb)).sum(-1) < 30).sum())


def test_pass_and_fail_marks_are_green_and_red():
    imgs = _images(2)
    none = np.asarray(labelled_grid(imgs, cols=2, image_marks=[Mark(), Mark()]))
    marked = np.asarray(labelled_grid(imgs, cols=2, image_marks=[Mark(True), Mark(False)]))
    half = marked.shape[1] // 2
    changed = (none != marked).any(-1)
    assert changed[:, :half].any() and changed[:, half:].any()
    left, right = marked[:, :half], marked[:, half:]
    assert _colour_count(left, PASS) > 10 and _colour_count(left, FAIL) == 0
    assert _colour_count(right, FAIL) > 10 and _colour_count(right, PASS) == 0
    # the marks lie under the images, not on them
    assert (marked[4:36, 4:36] == 128).all() and (marked[4:36, 40:72] == 128).all()


def test_a_tag_adds_text_beside_the_mark():
    imgs = _images(1, value=255)
    bare = np.asarray(labelled_grid(imgs, cols=1, image_marks=[Mark(None)]))
    tagged = np.asarray(labelled_grid(imgs, cols=1, image_marks=[Mark(None, "picked")]))
    assert (bare == 255).all() and (tagged < 200).any()


def test_group_titles_span_their_block():
    imgs = _images(6)
    a = labelled_grid(imgs, cols=6, column_titles=["base", "PARM++"], group_cols=[3, 3])
    b = labelled_grid(imgs, cols=6, column_titles=list("abcdef"))
    assert a.width > b.width   # the gap between the blocks


@pytest.mark.parametrize("kwargs, match", [
    ({"images_NHW3": np.zeros((2, 8, 8, 3), np.float32)}, r"uint8 array of shape \(N, H, W, 3\)"),
    ({"images_NHW3": np.zeros((8, 8, 3), np.uint8)}, r"uint8 array of shape \(N, H, W, 3\)"),
    ({"images_NHW3": [np.zeros((8, 8, 3), np.uint8)]}, "got list"),
    ({"cols": 0}, "cols must be an integer >= 1"),
    ({"row_labels": ["only one"]}, r"one label per row: 4 images in 2 columns are 2 row\(s\); got 1"),
    ({"image_marks": [Mark(True)] * 3}, "one entry .* per image: 4; got 3"),
    ({"image_marks": [True] * 4}, "must be Mark or None; entry 0 is bool"),
    ({"column_titles": ["a"]}, r"one per column \(2\); got 1"),
    ({"column_titles": ["a"], "group_cols": [1, 1]}, r"one per group of group_cols \(2\); got 1"),
    ({"group_cols": [1, 2]}, "add up to cols=2"),
])
def test_bad_input_says_what_was_expected(kwargs, match):
    args = {"images_NHW3": _images(4), "cols": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        labelled_grid(**args)


def test_saved_files_are_pngs(tmp_path):
    path = save_labelled_grid(tmp_path / "g.png", _images(3), cols=3, title="three", image_marks=[Mark(True, "x")] * 3)
    assert Image.open(path).format == "PNG"
    save_grid_png(tmp_path / "plain.png", _images(3), cols=3, scale=1)
    assert Image.open(tmp_path / "plain.png").size == (3 * 9 + 1, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "plain.png"]   # no temporaries left
