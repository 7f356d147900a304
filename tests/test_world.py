import random

import pytest

from imagecot.world import (
    TASKS,
    PromptParseError,
    all_specs,
    make_spec,
    parse_prompt,
    relative_position,
    sample_scene,
    sample_spec,
    spec_to_text,
)
from imagecot.world.shapes import shape_mask
from imagecot.world.vocab import BACKGROUND, PALETTE


@pytest.mark.parametrize("task", TASKS)
def test_every_spec_round_trips_through_text(task):
    for spec in all_specs(task)[:60]:
        assert parse_prompt(spec["prompt"]) == spec
        assert spec["tag"] == task


def test_parser_reads_geneval_wording_and_counts():
    assert parse_prompt("a photo of a circle")["prompt"] == "a circle"
    spec = parse_prompt("three triangles")
    assert spec["include"] == [{"class": "triangle", "count": 3}]
    assert spec["exclude"] == [{"class": "triangle", "count": 4}]
    pos = parse_prompt("a circle left of a square")
    assert pos["include"] == [{"class": "square", "count": 1},
                              {"class": "circle", "count": 1, "position": ["left of", 0]}]
    assert parse_prompt("two red circles")["include"] == [{"class": "circle", "count": 2, "color": "red"}]


@pytest.mark.parametrize("text, words", [
    ("a hexagon", ["'hexagon'"]),
    ("a crimson circle and a dog", ["'crimson'", "'dog'"]),
])
def test_parser_names_unknown_words_and_lists_vocabulary(text, words):
    with pytest.raises(PromptParseError) as e:
        parse_prompt(text)
    msg = str(e.value)
    for w in words:
        assert w in msg
    assert "vocabulary" in msg and "circle" in msg and "purple" in msg


@pytest.mark.parametrize("text", ["", "two circle", "a circles", "red", "a circle left a square",
                                  "five circles", "a red blue circle"])
def test_parser_rejects_malformed_prompts(text):
    with pytest.raises(PromptParseError):
        parse_prompt(text)


def test_make_spec_validates():
    with pytest.raises(ValueError, match="count"):
        make_spec([{"class": "circle", "count": 7}])
    with pytest.raises(ValueError, match="class"):
        make_spec([{"class": "dog", "count": 1}])


@pytest.mark.parametrize("res", [32, 64])
@pytest.mark.parametrize("task", TASKS)
def test_scenes_satisfy_their_spec_exactly(task, res):
    rng = random.Random(task)
    for _ in range(20):
        spec = sample_spec(task, rng)
        scene = sample_scene(spec, rng, res)
        img = scene.render()
        assert img.shape == (res, res, 3)
        want = sorted((r["class"], r.get("color")) for r in spec["include"] for _ in range(r["count"]))
        got = sorted((o.shape, o.color if any("color" in r for r in spec["include"]) else None)
                     for o in scene.objects)
        assert got == want
        for o in scene.objects:  # every object drawn in its own colour inside its box
            x0, y0, x1, y1 = o.box
            mask = shape_mask(o.shape, x1 - x0, y1 - y0)
            assert (img[y0:y1, x0:x1][mask] == PALETTE[o.color]).all()
            assert (img[y0:y1, x0:x1][~mask] == BACKGROUND).all()
        if task == "position":
            rel = spec["include"][1]["position"][0]
            ref, sub = scene.objects
            assert relative_position(sub.box, ref.box) == {rel}


def test_scene_sampling_is_seeded():
    spec = parse_prompt("four diamonds")
    a = sample_scene(spec, random.Random(5)).render()
    b = sample_scene(spec, random.Random(5)).render()
    assert (a == b).all()


def test_spec_to_text_inverts_parse():
    for text in ["a red circle and a blue square", "a diamond below a triangle", "four squares"]:
        assert spec_to_text(parse_prompt(text)) == text
