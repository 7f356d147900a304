"""The evaluator's must-not-pass checks over the whole benchmark, and the folder round trip."""

import json
import random

import numpy as np
import pytest

from imagecot.evaluation import (
    GenEvalFolderError,
    format_summary,
    score_folder,
    score_images,
    summarize,
    write_sample_folder,
)
from imagecot.world import TASKS, sample_scene
from imagecot.world.benchmark import contrast_spec, load_benchmark


@pytest.fixture(scope="module")
def benchmark():
    return load_benchmark()


def test_ground_truth_renders_pass(benchmark):
    rng = random.Random(0)
    images = [sample_scene(spec, rng).render() for spec in benchmark]
    summary = score_images(benchmark, images, n_boot=200)
    assert list(summary["tasks"]) == list(TASKS)
    for task, t in summary["tasks"].items():
        assert t["accuracy"] >= 0.99, (task, t)
    assert summary["overall"]["accuracy"] >= 0.99


def test_renders_of_a_contrasting_prompt_fail(benchmark):
    rng = random.Random(1)
    images = [sample_scene(contrast_spec(spec, rng), rng).render() for spec in benchmark]
    summary = score_images(benchmark, images, n_boot=200)
    for task, t in summary["tasks"].items():
        assert t["accuracy"] <= 0.05, (task, t)


def test_summary_bootstrap():
    records = [{"tag": "colors", "correct": i % 2 == 0} for i in range(40)]
    records += [{"tag": "single_object", "correct": True} for _ in range(10)]
    s = summarize(records, n_boot=500, seed=3)
    assert list(s["tasks"]) == ["single_object", "colors"]  # GenEval's order
    assert s["tasks"]["colors"]["accuracy"] == 0.5 and s["tasks"]["colors"]["n_images"] == 40
    lo, hi = s["tasks"]["colors"]["ci95"]
    assert 0.25 < lo < 0.5 < hi < 0.75
    assert s["tasks"]["single_object"]["ci95"] == [1.0, 1.0]
    assert s["overall"]["accuracy"] == 0.75 and s["n_images"] == 50
    assert summarize(records, n_boot=500, seed=3) == s  # seeded
    table = format_summary(s)
    assert "colors" in table and "0.750" in table and "95% CI" in table


def _write(tmp_path, specs, seed=0):
    rng = random.Random(seed)
    for i, spec in enumerate(specs):
        write_sample_folder(tmp_path, i, spec, [sample_scene(spec, rng).render() for _ in range(2)])


def test_folder_round_trip(tmp_path, benchmark):
    specs = [benchmark[0], benchmark[200], benchmark[400]]
    _write(tmp_path, specs)
    assert (tmp_path / "00002" / "samples" / "0001.png").is_file()
    assert json.loads((tmp_path / "00001" / "metadata.jsonl").read_text()) == specs[1]
    summary = score_folder(tmp_path, n_boot=100)
    assert summary["overall"]["accuracy"] == 1.0 and summary["n_images"] == 6
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    results = [json.loads(ln) for ln in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["filename"] for r in results[:2]] == ["00000/samples/0000.png", "00000/samples/0001.png"]
    assert {"filename", "tag", "prompt", "correct", "reason", "detections"} <= set(results[0])
    assert all(r["correct"] for r in results) and results[0]["detections"][0]["confidence"] == 1.0
    assert not list(tmp_path.rglob("*.tmp"))


def test_folder_errors_name_the_path(tmp_path, benchmark):
    with pytest.raises(GenEvalFolderError, match="no numbered prompt folders"):
        score_folder(tmp_path)
    _write(tmp_path, benchmark[:2])
    bad = tmp_path / "00001" / "samples" / "0000.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(GenEvalFolderError, match=r"00001/samples/0000\.png"):
        score_folder(tmp_path)
    bad.unlink()
    (tmp_path / "00001" / "metadata.jsonl").unlink()
    with pytest.raises(GenEvalFolderError, match=r"missing metadata\.jsonl in .*00001"):
        score_folder(tmp_path)
    assert not (tmp_path / "summary.json").exists()


def test_score_images_accepts_pil_and_checks_lengths(benchmark):
    from PIL import Image
    img = sample_scene(benchmark[0], random.Random(0)).render()
    s = score_images([benchmark[0]], [Image.fromarray(img).convert("RGBA")], n_boot=10)
    assert s["overall"]["accuracy"] == 1.0
    with pytest.raises(ValueError, match="2 metadata entries for 1 images"):
        score_images(benchmark[:2], [np.asarray(img)])


def test_paired_difference_is_exact_where_the_methods_agree_and_narrower_than_unpaired_intervals():
    from imagecot.evaluation.geneval import paired_difference, summarize
    rng = np.random.default_rng(0)
    tags = ["counting"] * 300 + ["colors"] * 300
    a = rng.random(600) < 0.7
    same = paired_difference(tags, a, a)
    assert same["difference"] == 0 and same["ci95"] == [0.0, 0.0]
    b = a.copy()
    b[:15] = ~b[:15]   # B differs on 15 counting images
    d = paired_difference(tags, a, b)
    expect = ((a[:300].astype(float) - b[:300]).mean() + 0) / 2
    assert d["difference"] == pytest.approx(expect)
    lo, hi = d["ci95"]
    sa = summarize([{"tag": t, "correct": c} for t, c in zip(tags, a)])["overall"]["ci95"]
    assert hi - lo < (sa[1] - sa[0]) / 2
    with pytest.raises(ValueError, match="one tag and two verdicts"):
        paired_difference(tags, a, b[:10])


def test_paired_text_signs_both_ends_and_marks_a_missing_comparison():
    from imagecot.evaluation.geneval import paired_text
    d = {"difference": -0.0005, "ci95": [-0.0023, 0.0008]}
    assert paired_text(d) == "-0.001 [-0.002, +0.001]"
    assert paired_text(d, 4) == "-0.0005 [-0.0023, +0.0008]"
    assert paired_text(None) == "–"
