import json

import pytest

from imagecot.generators.sampling import SamplingConfig
from imagecot.pipeline import generate_folder, read_jsonl
from imagecot.seeds import image_seed
from imagecot.world import parse_prompt

PROMPTS = ["a circle", "two red squares", "a triangle left of a diamond"]
SAMPLING = SamplingConfig(cfg_scale=1.5, top_k=16)


@pytest.fixture
def specs():
    return [parse_prompt(p) for p in PROMPTS]


def pngs(folder) -> dict[str, bytes]:
    """Relative path -> bytes of every sample PNG under a GenEval-layout folder."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob("*/samples/*.png"))}


def test_second_call_generates_nothing_and_keeps_the_images(tmp_path, tiny_ar, specs):
    first = generate_folder(tiny_ar, specs, tmp_path, 2, SAMPLING, seed=0, batch_size=4, progress=False)
    assert first["generated_now"] == 6 and first["skipped_prompts"] == 0
    assert first["compute"]["token_forwards"] > 0
    before = pngs(tmp_path)
    assert len(before) == 6
    for i, spec in enumerate(specs):
        assert json.loads((tmp_path / f"{i:05d}" / "metadata.jsonl").read_text()) == spec
    again = generate_folder(tiny_ar, specs, tmp_path, 2, SAMPLING, seed=0, batch_size=4, progress=False)
    assert again["generated_now"] == 0 and again["skipped_prompts"] == 3
    assert again["compute"]["token_forwards"] == 0
    assert pngs(tmp_path) == before
    assert json.loads((tmp_path / "generation.json").read_text())["generated_now"] == 0


def test_images_do_not_depend_on_batch_size(tmp_path, tiny_ar, specs):
    generate_folder(tiny_ar, specs, tmp_path / "b2", 2, SAMPLING, seed=3, batch_size=2, progress=False)
    generate_folder(tiny_ar, specs, tmp_path / "b8", 2, SAMPLING, seed=3, batch_size=8, progress=False)
    small, big = pngs(tmp_path / "b2"), pngs(tmp_path / "b8")
    assert len(small) == 6 and small == big


def test_deleted_sample_regenerates_only_its_prompt_identically(tmp_path, tiny_ar, specs):
    generate_folder(tiny_ar, specs, tmp_path, 2, SAMPLING, seed=0, batch_size=8, progress=False)
    before = pngs(tmp_path)
    (tmp_path / "00001" / "samples" / "0001.png").unlink()
    info = generate_folder(tiny_ar, specs, tmp_path, 2, SAMPLING, seed=0, batch_size=8, progress=False)
    assert info["generated_now"] == 2 and info["skipped_prompts"] == 2
    assert pngs(tmp_path) == before


def test_different_seed_gives_different_images(tmp_path, tiny_ar, specs):
    generate_folder(tiny_ar, specs[:1], tmp_path / "s0", 2, SAMPLING, seed=0, progress=False)
    generate_folder(tiny_ar, specs[:1], tmp_path / "s1", 2, SAMPLING, seed=1, progress=False)
    assert pngs(tmp_path / "s0") != pngs(tmp_path / "s1")
    assert image_seed(0, 0, 0) != image_seed(0, 0, 1) != image_seed(1, 0, 0)


def test_a_folder_made_for_other_prompts_is_refused(tmp_path, tiny_ar, specs):
    generate_folder(tiny_ar, specs[:1], tmp_path, 1, SAMPLING, progress=False)
    with pytest.raises(ValueError, match="a circle"):
        generate_folder(tiny_ar, specs[1:2], tmp_path, 1, SAMPLING, progress=False)


def test_a_folder_made_with_other_settings_is_refused_not_relabelled(tmp_path, tiny_ar, specs):
    from imagecot.search.strategies import Strategy
    from imagecot.verifiers.oracle import OracleVerifier
    generate_folder(tiny_ar, specs, tmp_path, 1, SAMPLING, seed=0, progress=False)
    before = pngs(tmp_path)
    for kw, what in (({"seed": 1}, "seed"), ({"sampling": SamplingConfig(cfg_scale=3.0)}, "sampling"),
                     ({"search": Strategy("oracle", tiny_ar, OracleVerifier(), n=2)}, "search")):
        args = {"sampling": SAMPLING, "seed": 0, **kw}
        with pytest.raises(ValueError, match=rf"other settings \(.*{what}"):
            generate_folder(tiny_ar, specs, tmp_path, 1, progress=False, **args)
    assert pngs(tmp_path) == before
    assert generate_folder(tiny_ar, specs, tmp_path, 1, SAMPLING, seed=0, progress=False)["generated_now"] == 0


def test_zero_images_per_prompt_is_an_error(tmp_path, tiny_ar, specs):
    with pytest.raises(ValueError, match="images_per_prompt"):
        generate_folder(tiny_ar, specs, tmp_path, 0, SAMPLING, progress=False)
    assert not any(tmp_path.iterdir())


def test_read_jsonl_names_the_bad_line(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"prompt": "a circle"}\n\nnot json\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:3"):
        read_jsonl(f)
