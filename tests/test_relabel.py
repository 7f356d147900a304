"""Hindsight prompts: the same image under other prompts, labelled by the evaluator."""

import random

import numpy as np
import pytest

from imagecot.evaluation.detector import ShapesDetector
from imagecot.evaluation.rules import evaluate
from imagecot.verifiers.prompts import excluded_prompts, training_specs
from imagecot.verifiers.relabel import describe, near_miss, relabel_rollouts
from imagecot.world import parse_prompt, sample_scene


@pytest.fixture(scope="module")
def rendered():
    """Rollout-shaped data whose 'generator' draws every prompt right: rendered scenes, 2 steps."""
    specs = training_specs(40, seed=3)
    rng = random.Random(0)
    final = np.stack([sample_scene(s, rng).render() for s in specs])
    frames = np.stack([np.zeros_like(final), final], 1)
    return {"frames": frames, "prompt": np.array([s["prompt"] for s in specs]),
            "tag": np.array([s["tag"] for s in specs]), "correct": np.ones(len(specs), bool),
            "clear": np.ones((len(specs), 2), bool), "flaws": np.zeros((len(specs), 4), bool),
            "region": np.zeros((len(specs), 64), bool), "prompt_index": np.arange(len(specs))}


def test_a_near_miss_changes_one_thing():
    rng = random.Random(0)
    spec = parse_prompt("a red circle left of a blue square")
    for _ in range(50):
        m = near_miss(spec, rng)
        if m is None:
            continue
        diffs = sum(a != b for r, q in zip(spec["include"], m["include"]) for a, b in
                    ((r.get(k), q.get(k)) for k in ("class", "count", "color", "position")))
        assert diffs == 1 and m["prompt"] != spec["prompt"]


def test_a_description_of_a_rendered_scene_is_accepted():
    rng = random.Random(1)
    det = ShapesDetector()
    for text in ("three green diamonds", "a red circle above a blue square", "a yellow triangle"):
        spec = describe(det(sample_scene(parse_prompt(text), rng).render()), rng)
        img_spec = parse_prompt(text)
        assert {(r["class"], r["color"], r["count"]) for r in spec["include"]} == \
            {(r["class"], r["color"], r["count"]) for r in img_spec["include"]}


def test_relabelled_correct_scenes_accept_their_description_and_reject_every_near_miss(rendered):
    rows = np.arange(len(rendered["prompt"]))
    held_out = {str(rendered["prompt"][0])}
    extra = relabel_rollouts(rendered, rows, per_rollout=2, exclude=held_out)
    assert len(extra["rollout"]) >= len(rows)
    assert not set(extra["prompt"].tolist()) & (excluded_prompts() | held_out)
    det = ShapesDetector()
    for s, p, ok, flaws in zip(extra["rollout"], extra["prompt"], extra["correct"], extra["flaws"]):
        assert p != rendered["prompt"][s]
        assert ok == evaluate(parse_prompt(str(p)), det(rendered["frames"][s, -1]))[0]
        assert ok == (not flaws.any())
    assert 0 < extra["correct"].mean() < 1   # descriptions right, near misses of a right image wrong
    from imagecot.train.verifier import BatchMaker, VerifierData
    batch = BatchMaker(rendered, rows, extra, VerifierData(groups=1, hindsight=4), 12)(np.random.default_rng(0))
    h = (batch["group"] == -1).nonzero().squeeze(1)
    assert len(h) == 4 and batch["outcome_mask"][h].all() and batch["potential_mask"][h].all()
    src = {tuple(rendered["frames"][r, 1].reshape(-1)[:64]) for r in extra["rollout"]}
    for i in h.tolist():   # a hindsight row shows its rollout's final image
        img = batch["images"][i].permute(1, 2, 0).add(1).mul(127.5).round().byte().numpy()
        assert tuple(img.reshape(-1)[:64]) in src
    assert set(extra["source"]) <= {"description", "near_miss"}


def test_training_with_hindsight_pairs_reports_grounding(tmp_path):
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import VerifierData, train_verifier
    from imagecot.verifiers.learned import VerifierConfig
    specs = training_specs(30, seed=4)
    rng = random.Random(0)
    final = np.stack([sample_scene(s, rng).render() for s in specs])
    data = {"frames": np.stack([np.zeros_like(final), final], 1), "prompt": np.array([s["prompt"] for s in specs]),
            "tag": np.array([s["tag"] for s in specs]), "correct": np.ones(30, bool),
            "clear": np.ones((30, 2), bool), "flaws": np.zeros((30, 4), bool), "region": np.zeros((30, 64), bool),
            "prompt_index": np.arange(30) // 2}
    data["correct"][::3] = False   # some own prompts rejected, so held-out pairs differ both ways
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size)
    _, report = train_verifier(tmp_path / "v", data, cfg, TrainConfig(steps=2, batch_size=8, log_every=1),
                               VerifierData(groups=2, hindsight=4, relabel=1, held_out=0.3))
    assert report["hindsight_pairs"] > 0 and report["relabelled_pairs"] > 0
    assert 0 <= report["grounding_accuracy"] <= 1 and 0 <= report["grounding_accuracy_shuffled"] <= 1
