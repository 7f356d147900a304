"""The training-prompt rule (verifier papers, made exact): exhausted formats with other seeds, no excluded
benchmark string, never a benchmark seed; and training scenes satisfy their prompts."""

import random

from imagecot.evaluation.geneval import score_image
from imagecot.seeds import TRAINING_SPACE, image_seed, training_seed
from imagecot.verifiers.prompts import (
    benchmark_prompts,
    check_training_prompts,
    excluded_prompts,
    exhausted_formats,
    format_counts,
    training_specs,
)
from imagecot.world import parse_prompt, sample_scene
from imagecot.world.benchmark import load_benchmark


def test_the_benchmark_exhausts_five_formats_and_color_attr_keeps_its_strings_out():
    assert exhausted_formats() == {"single_object", "two_object", "counting", "colors", "position"}
    bench = load_benchmark()
    excluded = excluded_prompts()
    assert excluded == {s["prompt"] for s in bench if s["tag"] == "color_attr"} and len(excluded) == 100
    specs = training_specs(3000, seed=1)
    prompts = {s["prompt"] for s in specs}
    assert len(specs) == 3000 and not prompts & excluded
    assert set(format_counts(specs)) == {"single_object", "two_object", "counting", "colors", "position",
                                         "color_attr", "colored_counting", "colored_position"}
    assert {"a circle", "two circles", "a red circle", "a circle left of a square"} <= prompts  # exhausted: in
    assert any(s["format"] == "color_attr" for s in specs)   # color_attr: other strings only
    check_training_prompts(prompts)


def test_training_seeds_are_never_image_seeds():
    seeds = {training_seed(0, i, j) for i in range(553) for j in range(80)}
    assert min(seeds) >= TRAINING_SPACE and len(seeds) == 553 * 80
    assert max(image_seed(0, i, j) for i in range(553) for j in range(80)) < TRAINING_SPACE


def test_training_specs_parse_back_and_render_correctly():
    rng = random.Random(0)
    for spec in training_specs(60, seed=2):
        parsed = parse_prompt(spec["prompt"])
        assert parsed["include"] == spec["include"] and parsed["tag"] == spec["tag"]
        assert score_image(spec, sample_scene(spec, rng).render())["correct"], spec["prompt"]


def test_an_exclusion_that_covers_a_format_retires_it():
    specs = training_specs(50, seed=0, exclude=benchmark_prompts() | {"a red circle and a blue square"})
    assert "a red circle and a blue square" not in {s["prompt"] for s in specs}
    assert not {s["prompt"] for s in specs} & benchmark_prompts()
