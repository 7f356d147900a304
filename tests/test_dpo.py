"""DPO: the loss, pairs from judged candidates, a tiny training run whose output is an ordinary checkpoint."""

import numpy as np
import pytest
import torch

from imagecot.align.dpo import DPOConfig, dpo_loss, train_dpo
from imagecot.align.preferences import build_pairs, collect_preferences
from imagecot.train.loop import TrainConfig
from imagecot.verifiers.prompts import training_specs


def test_at_policy_equal_reference_the_loss_is_log_2_and_its_gradient_favours_the_winner():
    pi_w, pi_l = torch.tensor([-5.0, -7.0], requires_grad=True), torch.tensor([-6.0, -3.0], requires_grad=True)
    out = dpo_loss(pi_w, pi_l, pi_w.detach(), pi_l.detach(), beta=0.1)
    assert out["loss"].item() == pytest.approx(np.log(2))
    out["loss"].backward()
    assert (pi_w.grad < 0).all() and (pi_l.grad > 0).all()   # descent raises the winner's, lowers the loser's
    better = dpo_loss(pi_w.detach() + 1, pi_l.detach() - 1, pi_w.detach(), pi_l.detach(), beta=0.1)
    assert better["loss"] < out["loss"] and better["reward_accuracy"] == 1.0


def test_the_rpo_term_holds_the_winners_likelihood_up_where_plain_dpo_is_indifferent():
    # both sides shifted down by the same amount: plain DPO sees no change (likelihood displacement is free)
    ref_w, ref_l = torch.tensor([-5.0]), torch.tensor([-6.0])
    plain = [dpo_loss(ref_w + d, ref_l + d, ref_w, ref_l, beta=0.1)["loss"].item() for d in (0.0, -10.0)]
    assert plain[0] == pytest.approx(plain[1])
    rpo = [dpo_loss(ref_w + d, ref_l + d, ref_w, ref_l, beta=0.1, sft_weight=1.0, tokens=4)["loss"].item()
           for d in (0.0, -10.0)]
    assert rpo[1] - rpo[0] == pytest.approx(10.0 / 4)   # the winners' NLL per token rose by 10/4
    shifted = dpo_loss(ref_w - 8, ref_l - 4, ref_w, ref_l, beta=0.1, tokens=4)
    assert shifted["winner_shift"].item() == pytest.approx(-2.0)
    assert shifted["loser_shift"].item() == pytest.approx(-1.0)


def test_pairs_are_a_yes_with_a_no_and_unanimous_prompts_are_dropped():
    data = {"prompt": np.array(["a", "b", "c"]), "prompt_index": np.arange(3),
            "tokens": np.arange(3 * 4 * 2).reshape(3, 4, 2),
            "verdict": np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]], bool)}
    pairs = build_pairs(data, per_prompt=2, seed=0)
    assert pairs["dropped"] == 2 and list(pairs["prompt"]) == ["a", "a"]
    for w, lo in zip(pairs["winner"], pairs["loser"]):
        assert tuple(w) in {tuple(data["tokens"][0, j]) for j in (0, 3)}
        assert tuple(lo) in {tuple(data["tokens"][0, j]) for j in (1, 2)}


def test_a_tiny_dpo_run_raises_the_winners_likelihood_and_ships_an_ordinary_checkpoint(tmp_path, tiny_ar):
    from imagecot.zoo import load_generator

    class Judge:   # prefers dark images: a rule the tiny model can learn
        def __call__(self, images, prompts):
            return (images.mean((1, 2, 3)) < images.mean()).float()
    specs = training_specs(8, seed=1)
    data = collect_preferences(tiny_ar, specs, 4, Judge(), seed=2)
    assert data["tokens"].shape == (8, 4, 64) and data["verdict"].any() and not data["verdict"].all()
    pairs = build_pairs(data)
    before = tiny_ar.log_prob(torch.from_numpy(pairs["winner"]), list(pairs["prompt"])) - \
        tiny_ar.log_prob(torch.from_numpy(pairs["loser"]), list(pairs["prompt"]))
    cfg = TrainConfig(steps=15, batch_size=4, lr=3e-3, warmup=1, log_every=5, ckpt_every=15)
    gen = train_dpo(tmp_path / "dpo", tiny_ar, pairs, cfg, DPOConfig(beta=0.5))
    after = gen.log_prob(torch.from_numpy(pairs["winner"]), list(pairs["prompt"])) - \
        gen.log_prob(torch.from_numpy(pairs["loser"]), list(pairs["prompt"]))
    assert after.mean() > before.mean() + 1.0
    tiny_ar.vq.save_pretrained(tmp_path / "vq")
    aligned = load_generator("ar", tmp_path / "dpo" / "final", tmp_path / "vq")   # loads like any checkpoint
    assert aligned.generate(["a circle"], seed=0).images.shape == (1, 3, 32, 32)


def test_preferences_then_train_dpo_through_the_cli(tmp_path, checkpoints, capsys, monkeypatch):
    from conftest import run

    import imagecot.align.preferences as prefs

    class Dark:   # a judge with both verdicts on a random tiny model's images (the evaluator rejects them all)
        def __call__(self, images, prompts):
            return (images.mean((1, 2, 3)) < images.mean()).float()
    monkeypatch.setattr(prefs, "judge_for", lambda name, kind="ar", device="cpu": (Dark(), "dark judge"))
    ar, vq = checkpoints
    model = ["--checkpoint", ar, "--tokenizer", vq]
    rc, out, err = run(["preferences", "--prompts", 6, "--per-prompt", 4, "--out", tmp_path / "p"] + model, capsys)
    assert rc == 0, err
    assert "judged by dark judge" in out and (tmp_path / "p" / "settings.json").is_file()
    rc, out, err = run(["train", "dpo", "--preferences", tmp_path / "p", "--out", tmp_path / "d", "--batch-size", 2,
                        "--log-every", 1, "--ckpt-every", 50] + model, capsys)
    assert rc == 0, err
    assert (tmp_path / "d" / "final" / "config.json").is_file() and '"pairs": 6' in out
    from imagecot.zoo import default_sampling  # the aligned checkpoint samples as its starting one did
    assert (tmp_path / "d" / "final" / "sampling.json").is_file()
    assert default_sampling(tmp_path / "d" / "final") == default_sampling(ar)
    # --formats: colour-binding pairs only (training strings: never the benchmark's)
    rc, out, err = run(["preferences", "--prompts", 5, "--per-prompt", 2, "--formats", "color_attr", "--out",
                        tmp_path / "c"] + model, capsys)
    assert rc == 0, err
    from imagecot.align.preferences import load_preferences
    from imagecot.verifiers.prompts import benchmark_prompts
    prompts = set(load_preferences(tmp_path / "c")["prompt"])
    from imagecot.world import parse_prompt
    assert len(prompts) == 5 and {parse_prompt(p)["tag"] for p in prompts} == {"color_attr"}
    assert not prompts & benchmark_prompts()


def test_diversity_counts_distinct_samples_and_their_spread(tiny_ar):
    from imagecot.evaluation.diversity import diversity
    from imagecot.generators.sampling import SamplingConfig
    free = diversity(tiny_ar, ["a circle", "two squares"], k=4)
    greedy = diversity(tiny_ar, ["a circle", "two squares"], k=4, sampling=SamplingConfig(top_k=1))
    assert free["distinct_token_share"] == 1.0 and free["mean_pairwise_rms"] > 0
    assert greedy["distinct_token_share"] == 0.25 and greedy["mean_pairwise_rms"] == 0.0   # one sample, 4 times
