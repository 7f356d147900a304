"""The shipped benchmark prompt set: GenEval's proportions, reproducible, parseable."""

import collections
import json
import random

import pytest

from imagecot.world import all_specs, parse_prompt, validate_spec
from imagecot.world.benchmark import (
    BENCHMARK_VERSION,
    METADATA_PATH,
    TASK_COUNTS,
    build_benchmark,
    contrast_spec,
    load_benchmark,
    write_metadata_jsonl,
)


def test_counts_match_geneval():
    specs = load_benchmark()
    assert len(specs) == 553 == sum(TASK_COUNTS.values())
    assert collections.Counter(s["tag"] for s in specs) == {
        "single_object": 80, "two_object": 99, "counting": 80,
        "colors": 94, "position": 100, "color_attr": 100}
    assert BENCHMARK_VERSION == "shapes-geneval-v1"


def test_shipped_file_is_build_benchmark(tmp_path):
    built = build_benchmark()
    assert load_benchmark() == built
    write_metadata_jsonl(built, tmp_path / "m.jsonl")  # byte-identical regeneration
    assert (tmp_path / "m.jsonl").read_bytes() == METADATA_PATH.read_bytes()


def test_repeated_prompts_are_balanced():
    specs = load_benchmark()
    for task, n in TASK_COUNTS.items():
        k = len(all_specs(task))
        counts = collections.Counter(s["prompt"] for s in specs if s["tag"] == task)
        assert len(counts) == min(n, k)
        assert set(counts.values()) <= {n // k, -(-n // k)}


def test_every_line_parses_back():
    for spec in load_benchmark():
        validate_spec(spec)
        assert parse_prompt(spec["prompt"]) == spec


def test_load_names_the_bad_line(tmp_path):
    lines = METADATA_PATH.read_text().splitlines()[:3]
    bad = json.loads(lines[1])
    bad["include"][0]["class"] = "hexagon"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    with pytest.raises(ValueError, match=r"line 2.*hexagon"):
        load_benchmark(path)
    path.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2"):
        load_benchmark(path)


def test_contrast_spec_changes_the_ask():
    rng = random.Random(0)
    for spec in load_benchmark():
        other = contrast_spec(spec, rng)
        assert other["tag"] == spec["tag"] and other["prompt"] != spec["prompt"]
        if spec["tag"] == "counting":
            assert abs(other["include"][0]["count"] - spec["include"][0]["count"]) == 1
        if spec["tag"] == "two_object":
            kept = {r["class"] for r in other["include"]} & {r["class"] for r in spec["include"]}
            assert len(kept) == 1


def test_load_names_a_malformed_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tag": "position", "include": [{"class": "circle", "count": 1}, '
                    '{"class": "square", "count": 1, "position": 5}]}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_benchmark(path)
