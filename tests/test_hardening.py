"""Bad input from a hostile new user: one clear line, exit code 2, nothing written or changed (issue 13).

Each test runs the failing command through the CLI in-process and compares the
whole tree under tmp_path before and after it.
"""

import argparse
import hashlib
import json

import numpy as np
import pytest
import torch
from conftest import run

from imagecot.io_utils import to_json

GEN = ["geneval", "generate", "--images-per-prompt", 1]


def tree(root) -> dict:
    """Every path under root -> sha1 of its bytes (None for folders)."""
    return {str(p.relative_to(root)): None if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def refused(argv, capsys, root) -> str:
    """Run argv; assert exit code 2, one line on stderr and nothing under `root` written or changed."""
    before = tree(root)
    rc, _, err = run(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert tree(root) == before
    return lines[0]


@pytest.fixture
def other_checkpoints(tmp_path, tiny_ar_config, tiny_vq):
    """Another AR (other weights, same shapes) and another tokenizer: (ar_dir, vq_dir)."""
    from imagecot.generators.ar import ARTransformer
    from imagecot.tokenizers.vq import VQConfig, VQModel
    torch.manual_seed(1)
    ARTransformer(tiny_ar_config).save_pretrained(tmp_path / "ckpt" / "ar2")
    VQModel(VQConfig(channels=(8, 16), codebook_size=32, codebook_dim=4)).save_pretrained(tmp_path / "ckpt" / "vq2")
    return tmp_path / "ckpt" / "ar2", tmp_path / "ckpt" / "vq2"


# 1. a benchmark folder never mixes two models ------------------------------------------------------------------

def test_resuming_with_another_checkpoint_or_tokenizer_is_refused_naming_it(tmp_path, checkpoints,
                                                                             other_checkpoints, capsys):
    (ar, vq), (ar2, vq2) = checkpoints, other_checkpoints
    out = tmp_path / "X"
    assert run(GEN + ["--out", out, "--limit", 2, "--checkpoint", ar, "--tokenizer", vq], capsys)[0] == 0
    line = refused(GEN + ["--out", out, "--limit", 4, "--checkpoint", ar2, "--tokenizer", vq, "--cfg", 2.0],
                   capsys, tmp_path)
    assert "generator weights (model)" in line and "cfg_scale" in line and str(ar) in line
    line = refused(GEN + ["--out", out, "--limit", 4, "--checkpoint", ar, "--tokenizer", vq2], capsys, tmp_path)
    assert "generator tokenizer (vq)" in line and "weights" not in line.split("(")[1].split(")")[0]
    # the same weights from another folder are the same model
    copy = tmp_path / "ckpt" / "ar-copy"
    copy.mkdir()
    for f in ar.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert run(GEN + ["--out", out, "--limit", 3, "--checkpoint", copy, "--tokenizer", vq], capsys)[0] == 0


def test_fewer_images_than_a_folder_holds_are_refused_and_more_extend_it(tmp_path, checkpoints, capsys):
    ar, vq = checkpoints
    model = ["--checkpoint", ar, "--tokenizer", vq]
    out = tmp_path / "g"
    assert run(["generate", "--prompt", "a circle", "-n", 8, "--out", out] + model, capsys)[0] == 0
    line = refused(["generate", "--prompt", "a circle", "-n", 4, "--out", out] + model, capsys, tmp_path)
    assert "holds 8 images per prompt, this run asks for 4" in line
    bench = tmp_path / "b"
    common = ["geneval", "generate", "--out", bench, "--limit", 2] + model
    assert run(common + ["--images-per-prompt", 2], capsys)[0] == 0
    first = (bench / "00001" / "samples" / "0001.png").read_bytes()
    refused(common + ["--images-per-prompt", 1], capsys, tmp_path)
    rc, out_text, _ = run(common + ["--images-per-prompt", 3], capsys)
    assert rc == 0 and json.loads(out_text[:out_text.rindex("}") + 1])["images_per_prompt"] == 3
    assert len(list((bench / "00001" / "samples").glob("*.png"))) == 3
    assert (bench / "00001" / "samples" / "0001.png").read_bytes() == first  # image 1 kept its seed
    assert json.loads((bench / "settings.json").read_text())["images_per_prompt"] == 3


def _class_ar_config(n_classes: int = 3):
    from imagecot.generators.ar import ARConfig
    return ARConfig(image_vocab=32, grid=8, cond_len=1, text_vocab=n_classes + 2, d_model=32, n_layer=1, n_head=4,
                    class_names=tuple("abcdefghij"[:n_classes]))


def test_class_samples_resume_only_for_the_same_generator(tmp_path, tiny_vq):
    from imagecot.class_samples import generate_class_samples
    from imagecot.generators.ar import ARGenerator, ARTransformer
    torch.manual_seed(0)
    a = ARGenerator(ARTransformer(_class_ar_config()), tiny_vq)
    torch.manual_seed(1)
    b = ARGenerator(ARTransformer(_class_ar_config()), tiny_vq)
    generate_class_samples(a, [0], tmp_path / "s", 1, progress=False)
    before = tree(tmp_path)
    with pytest.raises(ValueError, match=r"generator weights \(model\)"):
        generate_class_samples(b, [0], tmp_path / "s", 1, progress=False)
    assert tree(tmp_path) == before


# 2. --limit below 1 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", ["0", "-1", "two"])
def test_a_limit_below_one_is_refused(tmp_path, limit, capsys):
    line = refused(GEN + ["--out", tmp_path / "X", "--limit", limit], capsys, tmp_path)
    assert "--limit" in line and "expected an integer >= 1" in line


# 3. non-finite floats, and only valid JSON -----------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--cfg", "nan"), ("--cfg", "inf"), ("--cfg", "1e30"),
                                          ("--temperature", "nan"), ("--temperature", "1e-30"),
                                          ("--top-p", "-inf")])
def test_non_finite_or_absurd_sampling_floats_are_refused(tmp_path, checkpoints, option, value, capsys):
    ar, vq = checkpoints
    line = refused(GEN + ["--out", tmp_path / "X", "--limit", 1, "--checkpoint", ar, "--tokenizer", vq,
                          f"{option}={value}"], capsys, tmp_path)
    assert value in line or option.strip("-").replace("-", "_") in line


def test_training_floats_must_be_finite(tmp_path, capsys):
    line = refused(["train", "tokenizer", "--out", tmp_path / "t", "--lr", "nan"], capsys, tmp_path)
    assert "--lr" in line and "finite" in line
    line = refused(["train", "tokenizer", "--out", tmp_path / "t", "--lr", "1e9"], capsys, tmp_path)
    assert "lr" in line and "out of range" in line


def test_json_writers_refuse_nan_naming_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"fid, per_class\[1\]"):
        to_json({"fid": float("nan"), "per_class": [1.0, float("inf")]})
    assert to_json({"x": None}) == '{"x": null}'


# 4. tracebacks become one line naming the file --------------------------------------------------------------------

def _truncate(path):
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize("which", ["checkpoint", "tokenizer"])
def test_a_truncated_safetensors_file_is_one_line_naming_it(tmp_path, checkpoints, which, capsys):
    ar, vq = checkpoints
    bad = (ar if which == "checkpoint" else vq) / "model.safetensors"
    _truncate(bad)
    line = refused(GEN + ["--out", tmp_path / "X", "--limit", 1, "--checkpoint", ar, "--tokenizer", vq],
                   capsys, tmp_path)
    assert str(bad) in line and "not a readable safetensors file" in line


def _train_ar(tmp_path, vq, *extra):
    return ["train", "ar", "--out", tmp_path / "run", "--tokenizer", vq, "--steps", 2, "--batch-size", 2,
            "--d-model", 32, "--n-layer", 1, "--n-head", 4, "--log-every", 1, "--ckpt-every", 1, *extra]


def test_a_corrupt_optimizer_state_or_state_json_on_resume_is_one_line_naming_it(tmp_path, checkpoints, capsys):
    _, vq = checkpoints
    assert run(_train_ar(tmp_path, vq), capsys)[0] == 0
    opt = tmp_path / "run" / "checkpoint" / "optimizer.safetensors"
    good = opt.read_bytes()
    _truncate(opt)
    line = refused(_train_ar(tmp_path, vq, "--steps", 4), capsys, tmp_path)
    assert str(opt) in line
    opt.write_bytes(good)
    state = tmp_path / "run" / "checkpoint" / "state.json"
    state.write_text("{\n")
    line = refused(_train_ar(tmp_path, vq, "--steps", 4), capsys, tmp_path)
    assert str(state) in line and "not valid JSON" in line


@pytest.mark.parametrize("argv", [["generate", "--prompt", "a circle"], GEN, ["train", "tokenizer"], ["demo"]])
def test_out_naming_an_existing_file_is_refused(tmp_path, argv, capsys):
    (tmp_path / "f").write_text("mine")
    line = refused(argv + ["--out", tmp_path / "f"], capsys, tmp_path)
    assert str(tmp_path / "f") in line and "is a file; expected a folder" in line


def test_a_pth_that_is_not_a_plain_state_dict_is_refused_without_the_unsafe_hint(tmp_path, capsys):
    torch.save({"model": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=1)}, tmp_path / "var_d16.pth")
    torch.save({"w": torch.zeros(2)}, tmp_path / "vae.pth")
    line = refused(["generate", "--generator", "var", "--checkpoint", tmp_path / "var_d16.pth", "--tokenizer",
                    tmp_path / "vae.pth", "--class-id", 1, "--out", tmp_path / "o"], capsys, tmp_path)
    assert "argparse.Namespace" in line and "refuses" in line and "var_d16.pth" in line
    assert "weights_only" not in line and "succeed" not in line


# 5. errors name their file ---------------------------------------------------------------------------------------

def test_an_invalid_config_json_is_named(tmp_path, checkpoints, capsys):
    ar, vq = checkpoints
    (ar / "config.json").write_text('{"model_type": "ar_transformer",\n')
    line = refused(GEN + ["--out", tmp_path / "X", "--limit", 1, "--checkpoint", ar, "--tokenizer", vq],
                   capsys, tmp_path)
    assert str(ar / "config.json") in line and "not valid JSON" in line


def test_fid_on_nan_stats_names_the_file(tmp_path, capsys):
    from imagecot.evaluation.fid import save_stats
    save_stats(tmp_path / "a.npz", np.zeros(4), np.eye(4), n=10)
    save_stats(tmp_path / "b.npz", np.array([0, np.nan, 0, 0]), np.eye(4))
    line = refused(["fid", tmp_path / "a.npz", tmp_path / "b.npz"], capsys, tmp_path)
    assert str(tmp_path / "b.npz") in line and "NaN" in line


def test_fid_output_into_an_unwritable_place_fails_before_the_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    line = refused(["fid", tmp_path / "missing-a", tmp_path / "missing-b", "-o", tmp_path / "file" / "fid.json"],
                   capsys, tmp_path)
    assert "-o" in line and "is a file, not a folder" in line  # refused at parse time: the inputs were not read


# 6. resuming training with other arguments ------------------------------------------------------------------------

def test_resuming_with_another_architecture_is_refused_and_other_settings_are_recorded(tmp_path, checkpoints,
                                                                                       capsys):
    _, vq = checkpoints
    assert run(_train_ar(tmp_path, vq), capsys)[0] == 0
    line = refused(_train_ar(tmp_path, vq, "--d-model", 64, "--steps", 3), capsys, tmp_path)
    assert "d_model 32 -> 64" in line and "same options" in line
    rc, _, err = run(_train_ar(tmp_path, vq, "--steps", 3, "--lr", 5e-4), capsys)
    assert rc == 0 and "warning" in err and "lr 0.001 -> 0.0005" in err
    cfg = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert cfg["lr"] == 5e-4 and cfg["resumed_with"] == [{"at_step": 2, "changed": {"lr": [1e-3, 5e-4],
                                                                                    "steps": [2, 3]}}]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "event" in r] == [2] and [r["step"] for r in log if "loss" in r] == [1, 2, 3]


def test_training_device_is_checked_and_may_change_on_resume(tmp_path, checkpoints, capsys):
    _, vq = checkpoints
    line = refused(_train_ar(tmp_path, vq, "--device", "tpu"), capsys, tmp_path)
    assert "device must be cpu, cuda or cuda:N, got 'tpu'" in line
    if not torch.cuda.is_available():
        assert "torch sees no CUDA GPU" in refused(_train_ar(tmp_path, vq, "--device", "cuda"), capsys, tmp_path)
    assert run(_train_ar(tmp_path, vq), capsys)[0] == 0
    rc, _, err = run(_train_ar(tmp_path, vq, "--steps", 3, "--device", "cpu:0"), capsys)
    # where a run computes is not a training setting
    assert rc == 0 and "device" not in err.replace(str(tmp_path), ""), err


def test_a_diverged_loss_stops_training_with_one_line(tmp_path, tiny_vq, tiny_ar_config):
    from imagecot.train.loop import TrainConfig, train

    def nan_loss(model, step):
        return {"loss": model.head.weight.sum() * float("nan")}
    from imagecot.generators.ar import ARTransformer
    with pytest.raises(ValueError, match="loss is nan at step 1: training diverged"):
        train(ARTransformer(tiny_ar_config), nan_loss, tmp_path / "r", TrainConfig(steps=2))


# 7. FID edge cases ---------------------------------------------------------------------------------------------

def test_kid_std_is_unavailable_when_every_subset_is_the_whole_set():
    from imagecot.evaluation.kid import kernel_inception_distance
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
    assert kernel_inception_distance(a, b[:30], subsets=5)[1] is None
    assert kernel_inception_distance(a, b, subsets=5)[1] > 0  # b's subsets vary


def test_stats_record_their_image_count_and_others_say_unknown(tmp_path, capsys):
    from imagecot.evaluation.fid import save_stats
    save_stats(tmp_path / "ours.npz", np.zeros(4), np.eye(4), n=123)
    np.savez(tmp_path / "theirs.npz", mu=np.ones(4), sigma=np.eye(4))  # pytorch-fid's format: no n
    rc, out, _ = run(["fid", tmp_path / "ours.npz", tmp_path / "theirs.npz"], capsys)
    res = json.loads(out)
    assert rc == 0 and res["n_a"] == 123 and res["n_b"] == "unknown" and res["fid"] == pytest.approx(4.0)


# 8. progress moves -------------------------------------------------------------------------------------------------

def test_preview_has_a_bar(tmp_path, checkpoints, capsys):
    ar, vq = checkpoints
    rc, _, err = run(["preview", "--prompt", "a circle", "-n", 2, "--out", tmp_path / "p.png", "--checkpoint", ar,
                      "--tokenizer", vq], capsys)
    assert rc == 0 and "previews" in err and "8/8" in err


def test_benchmark_search_moves_its_bar_after_every_search_call(tmp_path, tiny_ar, monkeypatch):
    import imagecot.pipeline as pipeline
    import imagecot.writer as writer
    from imagecot.search.strategies import Strategy
    from imagecot.verifiers.oracle import OracleVerifier
    from imagecot.world import parse_prompt
    updates = []

    class Bar:
        def __init__(self, *a, **k):
            pass

        def update(self, n):
            updates.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(writer, "tqdm", Bar)
    specs = [parse_prompt(p) for p in ("a circle", "a square")]
    pipeline.generate_folder(tiny_ar, specs, tmp_path, 3, None, search=Strategy("oracle", tiny_ar, OracleVerifier(), 2))
    assert updates == [2, 2, 2]  # one per output image, each over the chunk's two prompts


# 9. a killed run's temporaries are cleaned on resume ----------------------------------------------------------------

def test_stale_temporaries_of_our_naming_are_removed_on_resume(tmp_path, checkpoints, capsys):
    ar, vq = checkpoints
    out = tmp_path / "X"
    argv = GEN + ["--out", out, "--limit", 2, "--checkpoint", ar, "--tokenizer", vq]
    assert run(argv, capsys)[0] == 0
    ours = [out / "00001" / "samples" / ".0000.png.k3j2_x9a.tmp", out / ".settings.json.abcdefgh.tmp"]
    for p in ours:
        p.write_bytes(b"half")
    (out / ".abcdefgh12.tmp").mkdir()  # a half-made folder swap
    (out / "notes.tmp").write_text("the user's")  # not our naming
    assert run(argv, capsys)[0] == 0
    assert not any(p.exists() for p in ours) and (out / "notes.tmp").is_file()


# 10. a classifier that does not match the generator -----------------------------------------------------------------

def test_a_classifier_with_other_classes_is_refused(tmp_path, tiny_vq, capsys):
    from imagecot.classifiers.cnn import CNNClassifier, CNNClassifierConfig
    from imagecot.generators.ar import ARTransformer
    ARTransformer(_class_ar_config(10)).save_pretrained(tmp_path / "ar")
    tiny_vq.save_pretrained(tmp_path / "vq")
    CNNClassifier(CNNClassifierConfig(num_classes=1000, channels=(4,))).save_pretrained(tmp_path / "clf")
    line = refused(["generate", "--checkpoint", tmp_path / "ar", "--tokenizer", tmp_path / "vq", "--class-id", "all",
                    "-n", 2, "--reject", "threshold", "--classifier", tmp_path / "clf", "--out", tmp_path / "o"],
                   capsys, tmp_path)
    assert "the classifier has 1000 classes, the generator 10" in line


# 11. a verifier the zoo does not ship -----------------------------------------------------------------------------

def test_a_verifier_the_zoo_does_not_ship_points_to_verifier_path(tmp_path, capsys, monkeypatch):
    from imagecot import hub
    (tmp_path / "zoo").mkdir()
    for name in ("ar", "tokenizer"):   # a zoo with the generator but no verifier
        (tmp_path / "zoo" / name).symlink_to(hub.ZOO_DIR / name)
    monkeypatch.setattr(hub, "ZOO_DIR", tmp_path / "zoo")
    line = refused(["generate", "--prompt", "a circle", "--verifier", "orm", "--out", tmp_path / "o"],
                   capsys, tmp_path)
    assert "--verifier-path" in line and "--checkpoint" not in line and line.count("`") % 2 == 0


# 12. help gaps ---------------------------------------------------------------------------------------------------

def test_group_helps_have_examples_and_var_widths_say_what_zero_means(capsys):
    for sub in (["geneval"], ["train"]):
        rc, out, _ = run(sub + ["--help"], capsys)
        assert rc == 0 and "example" in out and "imagecot " + sub[0] in out
    rc, out, _ = run(["train", "var", "--help"], capsys)
    assert "0 = 64 x depth" in " ".join(out.split()) and "0 = depth" in " ".join(out.split())


def test_bf16_on_a_cpu_without_native_bfloat16_warns_once(monkeypatch, capsys):
    """Emulated bfloat16 ran a training step 28x slower than float32: asking for it there says so, once."""
    import imagecot.generators.autocast as ac
    monkeypatch.setattr(ac, "cpu_has_native_bf16", lambda: False)
    ac.warn_if_cpu_lacks_bf16.cache_clear()
    assert ac.warn_if_cpu_lacks_bf16() is False and ac.warn_if_cpu_lacks_bf16() is False
    assert capsys.readouterr().err.count("no native bfloat16") == 1
    ac.warn_if_cpu_lacks_bf16.cache_clear()
