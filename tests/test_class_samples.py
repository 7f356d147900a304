"""Class-sample folders for FID: plain runs resume image by image, rejection runs land whole, foreign folders stay."""

import json

import pytest
from test_rejection import LevelClassifier, ScriptedGenerator

from imagecot.class_samples import generate_class_samples
from imagecot.evaluation.image_sources import list_images
from imagecot.search.rejection import AcceptanceRule, ClassifierFilter


def test_plain_samples_resume_and_match_the_rejection_candidates(tmp_path):
    out = tmp_path / "plain"
    info = generate_class_samples(ScriptedGenerator(), [0, 1], out, 5, progress=False)
    assert info["complete"] and info["generated_now"] == 10 and (out / "grid.png").is_file()
    assert len(list_images(out / "samples")) == 10  # the grid is outside samples/, so FID never reads it
    (out / "samples" / "0001" / "00003.png").unlink()
    info = json.loads((out / "generation.json").read_text())
    info["complete"] = False
    (out / "generation.json").write_text(json.dumps(info))
    again = generate_class_samples(ScriptedGenerator(), [0, 1], out, 5, progress=False)
    assert again["generated_now"] == 1


def test_rejection_run_writes_its_summary_and_refuses_other_settings(tmp_path):
    out = tmp_path / "rs"
    rej = (ClassifierFilter(LevelClassifier()), AcceptanceRule("threshold", threshold=0.3))
    info = generate_class_samples(ScriptedGenerator(), [0, 1], out, 4, rejection=rej, progress=False)
    assert len(list_images(out / "samples")) == 8 and 0 < info["acceptance_rate"] < 1
    assert info["compute_multiplier"] > 1
    with pytest.raises(ValueError, match="other settings"):
        generate_class_samples(ScriptedGenerator(), [0, 1], out, 4, progress=False)


def test_a_folder_of_other_files_is_never_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds outputs but no settings.json"):
        generate_class_samples(ScriptedGenerator(), [0], tmp_path, 2, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_plain_samples_grow_image_by_image_and_never_shrink(tmp_path):
    out = tmp_path / "plain"
    generate_class_samples(ScriptedGenerator(), [0, 1], out, 2, progress=False)
    first = (out / "samples" / "0001" / "00001.png").read_bytes()
    assert generate_class_samples(ScriptedGenerator(), [0, 1], out, 3, progress=False)["generated_now"] == 2
    assert (out / "samples" / "0001" / "00001.png").read_bytes() == first
    with pytest.raises(ValueError, match="holds 3 n per class, this run asks for 2"):
        generate_class_samples(ScriptedGenerator(), [0, 1], out, 2, progress=False)
