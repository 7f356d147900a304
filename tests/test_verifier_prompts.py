"""Verifier training prompts never include a benchmark prompt string, and their scenes satisfy them."""

import random

from imagecot.evaluation.geneval import score_image
from imagecot.verifiers.prompts import benchmark_prompts, format_counts, training_specs
from imagecot.world import parse_prompt, sample_scene


def test_training_prompts_exclude_every_benchmark_prompt():
    specs = training_specs(600, seed=1)
    assert len(specs) == 600 and not {s["prompt"] for s in specs} & benchmark_prompts()
    # with 4 shapes the benchmark exhausts five task formats: what is left is said, not hidden
    assert set(format_counts(specs)) == {"color_attr", "colored_counting", "colored_position"}


def test_training_specs_parse_back_and_render_correctly():
    rng = random.Random(0)
    for spec in training_specs(60, seed=2):
        parsed = parse_prompt(spec["prompt"])
        assert parsed["include"] == spec["include"] and parsed["tag"] == spec["tag"]
        assert score_image(spec, sample_scene(spec, rng).render())["correct"], spec["prompt"]


def test_an_exclusion_that_covers_a_format_retires_it():
    specs = training_specs(50, seed=0, exclude=benchmark_prompts() | {"a red circle and a blue square"})
    assert "a red circle and a blue square" not in {s["prompt"] for s in specs}
