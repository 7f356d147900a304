import json

import pytest
from conftest import run

from imagecot.cli import main

SUBCOMMANDS = [["generate"], ["geneval"], ["geneval", "generate"], ["geneval", "score"], ["train"],
               ["train", "tokenizer"], ["train", "ar"], ["train", "var"], ["preview"], ["fid"], ["rollouts"], ["demo"]]


@pytest.mark.parametrize("sub", SUBCOMMANDS, ids=" ".join)
def test_help_of_every_subcommand_has_an_example(sub, capsys):
    rc, out, _ = run(sub + ["--help"], capsys)
    assert rc == 0
    assert "example" in out and "imagecot " in out


def test_top_level_help_lists_examples(capsys):
    rc, out, _ = run(["--help"], capsys)
    assert rc == 0 and "examples" in out and "imagecot geneval score" in out


def test_generate_writes_geneval_layout_and_grid(tmp_path, checkpoints, capsys):
    ar_dir, vq_dir = checkpoints
    out = tmp_path / "out"
    rc, stdout, err = run(["generate", "--prompt", "two red circles", "-n", 3, "--out", out,
                           "--checkpoint", ar_dir, "--tokenizer", vq_dir], capsys)
    assert rc == 0, err
    meta = json.loads((out / "00000" / "metadata.jsonl").read_text())
    assert meta["prompt"] == "two red circles"
    assert sorted(p.name for p in (out / "00000" / "samples").glob("*.png")) == ["0000.png", "0001.png", "0002.png"]
    assert (out / "grid.png").is_file()
    assert "3 images" in stdout


def test_generate_refuses_a_folder_made_for_another_prompt(tmp_path, checkpoints, capsys):
    ar_dir, vq_dir = checkpoints
    common = ["-n", 2, "--out", tmp_path / "out", "--checkpoint", ar_dir, "--tokenizer", vq_dir]
    assert run(["generate", "--prompt", "a circle"] + common, capsys)[0] == 0
    rc, _, err = run(["generate", "--prompt", "a square"] + common, capsys)
    assert rc == 2 and "a circle" in err and "a square" in err


def test_geneval_generate_then_score(tmp_path, checkpoints, capsys):
    ar_dir, vq_dir = checkpoints
    out = tmp_path / "bench"
    rc, stdout, err = run(["geneval", "generate", "--out", out, "--limit", 2, "--images-per-prompt", 2,
                           "--checkpoint", ar_dir, "--tokenizer", vq_dir], capsys)
    assert rc == 0, err
    assert "imagecot geneval score" in stdout
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["00000", "00001"]
    rc, stdout, err = run(["geneval", "score", out, "--n-boot", 50], capsys)
    assert rc == 0, err
    assert len((out / "results.jsonl").read_text().splitlines()) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 4 and summary["n_boot"] == 50
    assert "accuracy" in stdout and "overall" in stdout


def test_bad_prompt_is_exit_code_2_naming_the_word(tmp_path, capsys):
    rc, _, err = run(["generate", "--prompt", "a hexagon", "--out", tmp_path / "o"], capsys)
    assert rc == 2
    assert "hexagon" in err and "error" in err


def test_missing_checkpoint_is_exit_code_2_naming_config_json(tmp_path, checkpoints, capsys):
    _, vq_dir = checkpoints
    rc, _, err = run(["generate", "--prompt", "a circle", "--out", tmp_path / "o",
                      "--checkpoint", tmp_path / "nowhere", "--tokenizer", vq_dir], capsys)
    assert rc == 2
    assert "config.json" in err


def test_score_of_a_folder_that_is_not_one_is_exit_code_2(tmp_path, capsys):
    rc, _, err = run(["geneval", "score", tmp_path / "missing"], capsys)
    assert rc == 2 and "not a folder" in err


def test_train_tokenizer_then_ar_then_resume(tmp_path, capsys):
    tok = tmp_path / "tok"
    rc, _, err = run(["train", "tokenizer", "--out", tok, "--steps", 3, "--batch-size", 4, "--channels", 8, 16,
                      "--codebook-size", 16, "--codebook-dim", 4, "--log-every", 1, "--ckpt-every", 2], capsys)
    assert rc == 0, err
    assert (tok / "final" / "config.json").is_file()
    assert json.loads((tok / "final" / "config.json").read_text())["channels"] == [8, 16]

    ar = tmp_path / "ar"
    train_ar = ["train", "ar", "--out", ar, "--tokenizer", tok / "final", "--steps", 3, "--batch-size", 4,
                "--d-model", 32, "--n-layer", 1, "--n-head", 4, "--log-every", 1, "--ckpt-every", 2]
    rc, _, err = run(train_ar, capsys)
    assert rc == 0, err
    cfg = json.loads((ar / "final" / "config.json").read_text())
    assert cfg["image_vocab"] == 16 and cfg["d_model"] == 32 and cfg["n_layer"] == 1
    assert json.loads((ar / "checkpoint" / "state.json").read_text())["step"] == 3
    logged = len((ar / "log.jsonl").read_text().splitlines())

    rc, stdout, err = run(train_ar, capsys)  # all 3 steps done: resumes, trains nothing, still succeeds
    assert rc == 0, err
    assert "resuming" in stdout
    assert (ar / "final" / "config.json").is_file()
    assert len((ar / "log.jsonl").read_text().splitlines()) == logged


def test_generate_with_the_oracle_verifier_picks_one_of_n(tmp_path, capsys):
    assert main(["generate", "--prompt", "a red circle", "-n", "4", "--verifier", "oracle",
                 "--out", str(tmp_path / "o")]) == 0
    assert "the oracle pick of 4 candidates" in capsys.readouterr().out
    rec = json.loads((tmp_path / "o" / "00000" / "search.json").read_text())
    assert rec["oracle"] and len(rec["trace"][0]["scores"]) == 4
    assert len(list((tmp_path / "o" / "00000" / "samples").glob("*.png"))) == 1


def test_rollouts_then_train_a_verifier(tmp_path, capsys):
    assert main(["rollouts", "--prompts", "6", "--per-prompt", "2", "--shard-prompts", "4",
                 "--out", str(tmp_path / "r")]) == 0
    assert "12 rollouts x 8 steps" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["settings.json", "shard-00000.npz",
                                                                   "shard-00001.npz"]
    assert main(["train", "verifier", "--rollouts", str(tmp_path / "r"), "--out", str(tmp_path / "v"),
                 "--d-model", "32", "--n-layer", "1", "--n-head", "4", "--steps", "2", "--groups", "2",
                 "--held-out", "0.34"]) == 0
    report = json.loads((tmp_path / "v" / "final" / "eval.json").read_text())
    assert len(report["value"]["within_auc_by_step"]) == 8 and report["data"]["groups"] == 2
