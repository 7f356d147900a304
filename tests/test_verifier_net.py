"""The learned verifier's data and network: rollout labels are consistent, every role's batch trains."""

import numpy as np
import pytest
import torch

from imagecot.evaluation.diagnose import Flaw
from imagecot.generators.condition import PromptTokenizer
from imagecot.verifiers.learned import VerifierConfig, VerifierNet, verifier_loss
from imagecot.verifiers.prompts import training_specs
from imagecot.verifiers.rollouts import clarity_labels, collect_rollouts, region_cells, to_torch_batch


def test_region_cells_cover_the_flaw_boxes():
    cells = region_cells([Flaw("extra", "circle", (4, 8, 12, 13), "x"), Flaw("missing", "square", None, "y")], 8, 32)
    grid = cells.reshape(8, 8)
    assert grid[2:4, 1:3].all() and grid.sum() == 4


def test_a_blank_preview_of_a_failing_image_is_not_clear():
    # AR: rows so far over a blank; the final image lacks the second object, so it fails like the blank does
    objects = np.array([["", "red circle", "red circle", "red circle"]])
    step_correct = np.array([[False, False, False, False]])
    assert clarity_labels(step_correct, objects).tolist() == [[False, True, True, True]]
    flips = np.array([[True, False, True, True]])  # the verdict changes back and forth: clear only from step 2
    assert clarity_labels(flips, np.array([["a", "a", "a", "a"]])).tolist() == [[False, False, True, True]]


@pytest.fixture(scope="module")
def rollouts():
    from imagecot.generators.ar import ARConfig, ARGenerator, ARTransformer
    from imagecot.tokenizers.vq import VQConfig, VQModel
    torch.manual_seed(0)
    vq = VQModel(VQConfig(channels=(8, 16), codebook_size=32, codebook_dim=4)).eval()
    gen = ARGenerator(ARTransformer(ARConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size, d_model=32,
                                             n_layer=1, n_head=4)), vq)
    specs = training_specs(6, seed=0)   # never a benchmark prompt: training refuses those
    return collect_rollouts(gen, specs, n_per_prompt=2, seed=0, batch_size=5)


def test_rollout_labels_are_consistent(rollouts):
    S, T = rollouts["step_correct"].shape
    assert rollouts["frames"].shape == (S, T, 32, 32, 3) and S == 12 and T == 8
    assert rollouts["clear"][:, -1].all()  # the final image is always clear
    # clear from t on means the verdict and the detected objects never change again
    for s in range(S):
        for t in range(T):
            stable = ((rollouts["step_correct"][s, t:] == rollouts["correct"][s]).all()
                      and (rollouts["objects"][s, t:] == rollouts["objects"][s, -1]).all())
            assert rollouts["clear"][s, t] == stable
    assert (rollouts["flaws"].any(1) == ~rollouts["correct"]).all()


@pytest.mark.parametrize("role", ["orm", "prm", "parm"])
def test_every_role_trains(rollouts, role):
    torch.manual_seed(0)
    net = VerifierNet(VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size,
                                     role=role))
    T = rollouts["frames"].shape[1]
    idx = np.array([(s, T - 1 if role == "orm" else s % T) for s in range(12)])
    batch = to_torch_batch(rollouts, idx, role, PromptTokenizer())
    out = net(batch["images"], batch["text"], batch["progress"])
    assert out["region"].shape == (12, 64) and out["flaws"].shape == (12, 4)
    losses = verifier_loss(out, batch)
    losses["loss"].backward()
    assert net.stem[0].weight.grad is not None and torch.isfinite(losses["loss"])
    assert ("clarity" in losses) == (role == "parm")


def test_auc_matches_pairwise_counting():
    from imagecot.train.verifier import auc
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]
    assert auc(s, y) == pytest.approx(np.mean(pairs))
    assert auc(s, np.ones(60, bool)) is None


@pytest.mark.parametrize("role", ["orm", "parm"])
def test_verifier_training_runs_and_reports_on_held_out_prompts(tmp_path, rollouts, role):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import train_verifier
    from imagecot.verifiers.learned import LearnedVerifier
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size, role=role)
    net, report = train_verifier(tmp_path / role, rollouts, cfg, TrainConfig(steps=3, batch_size=8, log_every=1),
                                 held_out=0.34)
    assert report["role"] == role and 0 < report["rollouts"] < 12
    train_prompts = set(rollouts["prompt"].tolist()) - set(report["held_out_prompts"])
    assert train_prompts and not train_prompts & set(report["held_out_prompts"])
    v = LearnedVerifier(VerifierNet.from_pretrained(tmp_path / role / "final"))
    from imagecot.zoo import load_verifier
    assert load_verifier(role, tmp_path / role).net.config.role == role  # a training run's folder loads its final/
    imgs = torch.from_numpy(rollouts["frames"][:3, -1]).permute(0, 3, 1, 2).float() / 127.5 - 1
    prompts = [str(p) for p in rollouts["prompt"][:3]]
    assert v(imgs, prompts).shape == (3,) and v.clarity(imgs, prompts, 2, 8).shape == (3,)
    r = v.reflect(imgs, prompts)
    assert len(r) == 3 and r[0]["cells"].shape == (64,) and isinstance(r[0]["sentence"], str)


def test_verifier_training_refuses_rollouts_of_benchmark_prompts(tmp_path, rollouts):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import train_verifier
    from imagecot.verifiers.prompts import excluded_prompts
    leaked = dict(rollouts)
    leaked["prompt"] = rollouts["prompt"].copy().astype(object)
    leaked["prompt"][0] = sorted(excluded_prompts())[0]   # a color_attr benchmark string
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size)
    with pytest.raises(ValueError, match="benchmark strings of a format the benchmark does not exhaust"):
        train_verifier(tmp_path / "v", leaked, cfg, TrainConfig(steps=1, batch_size=4))
    assert not (tmp_path / "v").exists()
