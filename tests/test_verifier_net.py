"""The learned verifier's data and network: rollout labels are consistent, every role's batch trains."""

import numpy as np
import pytest
import torch

from imagecot.evaluation.diagnose import Flaw
from imagecot.generators.condition import PromptTokenizer
from imagecot.verifiers.learned import LearnedVerifier, VerifierConfig, VerifierNet, verifier_loss
from imagecot.verifiers.prompts import training_specs
from imagecot.verifiers.rollouts import clarity_labels, collect_rollouts, region_cells


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


def test_a_batch_holds_whole_groups_at_their_final_and_one_shared_preview_step(rollouts):
    from imagecot.train.verifier import BatchMaker, VerifierData
    rows = np.arange(12)
    batch = BatchMaker(rollouts, rows, None, VerifierData(groups=2, hindsight=0), 12)(np.random.default_rng(0))
    g, T = batch["group"], rollouts["frames"].shape[1]
    assert len(g) == 2 * 2 * 2   # 2 draws x 2 candidates x (final, preview)
    for gid in g.unique().tolist():
        steps = set((batch["progress"][g == gid] * T).round().long().tolist())
        assert len(steps) == 1 and (gid % 2 == 0) == (steps == {T})   # even ids: final images
    assert batch["outcome_mask"].tolist() == (g % 2 == 0).tolist() == batch["parse_mask"].tolist()
    torch.manual_seed(0)
    net = VerifierNet(VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size))
    out = net(batch["images"], batch["text"], batch["progress"])
    assert out["region"].shape == (8, 64) and out["parse"].shape == (8, 64, 37) and out["counts"].shape == (8, 36, 5)
    losses = verifier_loss(out, batch)
    losses["loss"].backward()
    assert net.stem.weight.grad is not None and torch.isfinite(losses["loss"])
    assert {"outcome", "value", "potential", "clarity", "flaws", "region", "parse", "counts"} <= set(losses)


def test_the_ranking_loss_ranks_a_planted_case():
    """Pairs of a group differ in one planted feature that decides their label; a linear scorer trained with the
    ranking loss alone orders every group, though a group-level offset hides the feature from a pooled score."""
    from imagecot.evaluation.ranking import within_group_auc
    from imagecot.verifiers.learned import ranking_loss
    g = torch.Generator().manual_seed(0)
    groups = torch.arange(40).repeat_interleave(5)
    offset = torch.randn(40, generator=g)[groups] * 5            # what a prompt's difficulty adds
    planted = torch.randn(200, generator=g)
    label = planted > 0
    x = torch.stack([planted + offset, offset, torch.randn(200, generator=g)], 1)
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        ranking_loss(x @ w, label, groups).backward()
        opt.step()
    within, n = within_group_auc((x @ w).detach().numpy(), label.numpy(), groups.numpy())
    assert n > 30 and within == 1.0
    assert ranking_loss(torch.tensor([1.0, 0.0]), torch.tensor([True, False]), torch.tensor([0, 0])) < \
        ranking_loss(torch.tensor([0.0, 1.0]), torch.tensor([True, False]), torch.tensor([0, 0]))
    assert ranking_loss(torch.tensor([1.0, 0.0]), torch.tensor([True, True]), torch.tensor([0, 0])) is None


def test_auc_matches_pairwise_counting():
    from imagecot.evaluation.ranking import auc, expected_calibration_error, within_group_auc
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]
    assert auc(s, y) == pytest.approx(np.mean(pairs))
    assert auc(s, np.ones(60, bool)) is None
    assert within_group_auc(np.array([1, 0, 0, 1.0]), np.array([1, 0, 1, 0]), np.array([0, 0, 1, 1])) == (0.5, 2)
    assert expected_calibration_error(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 1, 0, 0])) == pytest.approx(0.1)


def test_an_orm_alone_trains_on_final_images_and_its_own_labels_only(tmp_path, rollouts):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import BatchMaker, VerifierData, train_verifier
    from imagecot.zoo import load_verifier
    batch = BatchMaker(rollouts, np.arange(12), None, VerifierData(groups=2, hindsight=0), 12, "orm")(
        np.random.default_rng(0))
    T = rollouts["frames"].shape[1]
    assert len(batch["group"]) == 2 * 2 and batch["progress"].eq(1.0).all() and (batch["group"] % 2 == 0).all()
    assert "outcome" in batch and not {"value", "potential", "clarity"} & set(batch)
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size, role="orm")
    _, report = train_verifier(tmp_path / "v", rollouts, cfg, TrainConfig(steps=2, batch_size=8, log_every=1),
                               VerifierData(groups=2, held_out=0.34))
    assert report["role"] == "orm" and "outcome" in report and "value" not in report and "potential" not in report
    assert len(report["outcome"]["within_auc_by_step"]) == T
    assert load_verifier("orm", tmp_path / "v").role == load_verifier(None, tmp_path / "v").role == "orm"
    with pytest.raises(ValueError, match="trained as 'orm' only"):
        load_verifier("parm", tmp_path / "v")
    with pytest.raises(ValueError, match="role must be all, orm, prm or parm"):
        VerifierConfig(role="judge")


def test_a_role_subfolder_beside_a_checkpoint_serves_that_role_only(tmp_path):
    """The zoo's layout for a PARM trained alone: one network for ORM and PRM, and its parm/ beside it."""
    from imagecot.zoo import load_verifier
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size)
    VerifierNet(cfg).save_pretrained(tmp_path / "v")
    VerifierNet(VerifierConfig(**{**vars(cfg), "role": "parm"})).save_pretrained(tmp_path / "v" / "parm")
    assert load_verifier("parm", tmp_path / "v").net.config.role == "parm"
    assert [load_verifier(r, tmp_path / "v").net.config.role for r in ("orm", "prm")] == ["all", "all"]
    assert load_verifier(None, tmp_path / "v").role == "parm" == load_verifier(None, tmp_path / "v" / "parm").role


def test_verifier_training_runs_and_reports_on_held_out_draws(tmp_path, rollouts):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import VerifierData, train_verifier
    from imagecot.zoo import load_verifier
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size)
    net, report = train_verifier(tmp_path / "v", rollouts, cfg, TrainConfig(steps=3, batch_size=8, log_every=1),
                                 VerifierData(groups=2, held_out=0.34))
    assert 0 < report["rollouts"] < 12 and report["held_out_draws"] == 2
    assert set(report["outcome"]) >= {"auc", "within_auc", "ece", "within_auc_by_step"}
    assert len(report["value"]["within_auc_by_step"]) == 8
    imgs = torch.from_numpy(rollouts["frames"][:3, -1]).permute(0, 3, 1, 2).float() / 127.5 - 1
    prompts = [str(p) for p in rollouts["prompt"][:3]]
    heads = load_verifier("parm", tmp_path / "v").heads(imgs, prompts)   # a training run's folder loads its final/
    for role, head in (("orm", "outcome"), ("prm", "value"), ("parm", "potential")):
        v = load_verifier(role, tmp_path / "v")
        assert torch.allclose(v(imgs, prompts), heads[head])
    assert v.clarity(imgs, prompts, 2, 8).shape == (3,)
    r = v.reflect(imgs, prompts)
    assert len(r) == 3 and r[0]["cells"].shape == (64,) and isinstance(r[0]["sentence"], str)


def test_verifier_training_from_init_starts_at_its_weights_without_its_after_training_choices(tmp_path, rollouts):
    """`train verifier --init` (e.g. the AR verifier for VAR's rollouts): the first step starts from the given
    verifier's weights, the run records where it started, and the choices made for the init's own data (counts
    verdict, calibration, PARM's gate) are not inherited; one of another resolution is refused by name."""
    import dataclasses

    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import VerifierData, train_verifier
    from imagecot.zoo.build import _provenance
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size)
    base = VerifierNet(dataclasses.replace(cfg, count_verdict_tasks=("color_attr",), parm_threshold=0.3,
                                           parm_clarity=0.9))
    base.save_pretrained(tmp_path / "base")
    tc, opts = TrainConfig(steps=1, batch_size=8, lr=1e-9, warmup=0, log_every=1), VerifierData(groups=2, held_out=0.34)
    net, _ = train_verifier(tmp_path / "run", rollouts, cfg, tc, opts, init=tmp_path / "base")
    assert torch.allclose(net.head.weight, base.head.weight, atol=1e-6)
    assert net.config.count_verdict_tasks == () and net.config.parm_threshold == net.config.parm_clarity == 0.5
    assert _provenance(tmp_path / "run" / "final")["init"] == str(tmp_path / "base")
    fresh, _ = train_verifier(tmp_path / "fresh", rollouts, cfg, tc, opts)
    assert not torch.allclose(fresh.head.weight, base.head.weight, atol=1e-3)
    VerifierNet(dataclasses.replace(cfg, resolution=64)).save_pretrained(tmp_path / "big")
    with pytest.raises(ValueError, match="resolution"):
        train_verifier(tmp_path / "bad", rollouts, cfg, tc, opts, init=tmp_path / "big")


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


def test_rollout_shards_resume_and_refuse_another_generator(tmp_path, tiny_ar):
    from imagecot.verifiers.rollouts import load_rollouts, write_rollout_shards
    specs = training_specs(5, seed=3)
    out = write_rollout_shards(tiny_ar, specs, tmp_path / "r", 2, seed=1, shard_prompts=2)
    full = load_rollouts(out)
    assert sorted(p.name for p in out.glob("shard-*.npz")) == ["shard-00000.npz", "shard-00001.npz", "shard-00002.npz"]
    assert full["prompt_index"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and "parse" in full
    (out / "shard-00001.npz").unlink()   # a run killed before its second shard
    before = (out / "shard-00000.npz").stat().st_mtime_ns
    again = load_rollouts(write_rollout_shards(tiny_ar, specs, tmp_path / "r", 2, seed=1, shard_prompts=2))
    assert (out / "shard-00000.npz").stat().st_mtime_ns == before   # finished shards are not redone
    assert all(np.array_equal(full[k], again[k]) for k in ("frames", "correct", "prompt_index"))
    torch.manual_seed(5)
    other = type(tiny_ar)(type(tiny_ar.model)(tiny_ar.model.config), tiny_ar.vq)
    with pytest.raises(ValueError, match=r"generator weights \(model\)"):
        write_rollout_shards(other, specs, tmp_path / "r", 2, seed=1, shard_prompts=2)


def test_parms_gate_and_clarity_cut_are_probabilities_the_search_reads_from_the_verifier():
    from imagecot.search.parm import clarity_gate, gate
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size, parm_threshold=0.2,
                         parm_clarity=0.9)
    v = LearnedVerifier(VerifierNet(cfg), "parm")
    assert (gate(v), clarity_gate(v)) == (0.2, 0.9)
    assert (gate(object()), clarity_gate(object())) == (0.5, 0.5)   # a verifier without them: the paper's
    for name in ("parm_threshold", "parm_clarity"):
        with pytest.raises(ValueError, match=f"{name} is a probability"):
            VerifierConfig(**{name: 1.5})
