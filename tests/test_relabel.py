"""Hindsight prompts: the same image under other prompts, labelled by the evaluator."""

import random

import numpy as np
import pytest

from imagecot.evaluation.detector import ShapesDetector
from imagecot.evaluation.rules import evaluate
from imagecot.verifiers.prompts import excluded_prompts, training_specs
from imagecot.verifiers.relabel import append_relabelled, describe, near_miss, relabel_rollouts
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
            "region": np.zeros((len(specs), 64), bool)}


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
    merged = append_relabelled(rendered, extra)
    K = len(extra["rollout"])
    assert len(merged["prompt"]) == len(rows) + K and merged["relabelled"][-K:].all()
    assert (merged["frame_row"][len(rows):] == extra["rollout"]).all() and merged["clear"][-K:, -1].all()
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.verifiers.rollouts import to_torch_batch
    batch = to_torch_batch(merged, np.array([[len(rows), 1]]), "parm", PromptTokenizer())   # the first pair
    src = rendered["frames"][extra["rollout"][0], 1]
    assert (batch["images"][0].permute(1, 2, 0).add(1).mul(127.5).round().byte().numpy() == src).all()
    assert bool(batch["potential"][0]) == extra["correct"][0] and set(extra["source"]) <= {"description", "near_miss"}


def test_training_with_relabelled_pairs_reports_grounding(tmp_path):
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import pairs_for, train_verifier
    from imagecot.verifiers.learned import VerifierConfig
    specs = training_specs(30, seed=4)
    rng = random.Random(0)
    final = np.stack([sample_scene(s, rng).render() for s in specs])
    data = {"frames": np.stack([np.zeros_like(final), final], 1), "prompt": np.array([s["prompt"] for s in specs]),
            "tag": np.array([s["tag"] for s in specs]), "correct": np.ones(30, bool),
            "clear": np.ones((30, 2), bool), "flaws": np.zeros((30, 4), bool), "region": np.zeros((30, 64), bool)}
    data["correct"][::3] = False   # some own prompts rejected, so held-out pairs differ both ways
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size, role="parm")
    _, report = train_verifier(tmp_path / "v", data, cfg, TrainConfig(steps=2, batch_size=8, log_every=1),
                               held_out=0.3, relabel=1)
    assert report["relabel"] == 1 and report["relabelled_pairs"] > 0 and 0 <= report["grounding_accuracy"] <= 1
    assert 0 <= report["grounding_accuracy_shuffled"] <= 1
    # the PARM sees a relabelled pair only on its final frame (its clarity is unknown before)
    pairs = pairs_for("parm", np.arange(4), 2, np.array([False, True, False, True]))
    assert pairs.tolist() == [[0, 0], [0, 1], [1, 1], [2, 0], [2, 1], [3, 1]]


def test_aux_heads_give_the_orm_and_prm_the_image_tasks_on_final_frames_only(rendered, tmp_path):
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.train.loop import TrainConfig
    from imagecot.train.verifier import train_verifier
    from imagecot.verifiers.learned import VerifierConfig
    from imagecot.verifiers.rollouts import to_torch_batch
    data = dict(rendered, flaws=rendered["flaws"].copy())
    data["flaws"][1, 2] = True
    idx = np.array([[0, 0], [1, 1]])   # an early preview and a final frame
    for role in ("orm", "prm"):
        assert "flaws" not in to_torch_batch(data, idx, role, PromptTokenizer())
        batch = to_torch_batch(data, idx, role, PromptTokenizer(), aux_heads=True)
        assert batch["flaws_mask"].tolist() == batch["region_mask"].tolist() == [False, True]
        assert batch["flaws"][1].tolist() == [False, False, True, False] and "clarity" not in batch
    # a relabelled pair carries its own diagnosis (under its prompt), not its source rollout's
    extra = relabel_rollouts(rendered, np.arange(len(rendered["prompt"])), per_rollout=2)
    merged = append_relabelled(rendered, extra)
    k = int(np.argmax(extra["flaws"].any(1)))   # a near miss the evaluator rejects
    row = len(rendered["prompt"]) + k
    batch = to_torch_batch(merged, np.array([[row, 1]]), "orm", PromptTokenizer(), aux_heads=True)
    assert batch["flaws"][0].tolist() == extra["flaws"][k].tolist() and extra["flaws"][k].any()
    assert batch["region"][0].tolist() == extra["region"][k].tolist()
    cfg = VerifierConfig(d_model=32, n_layer=1, n_head=4, text_vocab=PromptTokenizer().vocab_size, role="orm")
    _, report = train_verifier(tmp_path / "v", data, cfg, TrainConfig(steps=2, batch_size=8, log_every=1),
                               held_out=0.3, relabel=1, aux_heads=True)
    import json
    logged = [json.loads(line) for line in (tmp_path / "v" / "log.jsonl").read_text().splitlines()]
    assert report["aux_heads"] and {"flaws", "region", "potential"} <= set(logged[-1])
    with pytest.raises(ValueError, match="PARM always learns"):
        train_verifier(tmp_path / "p", data, VerifierConfig(d_model=32, n_layer=1, n_head=4, role="parm",
                                                            text_vocab=PromptTokenizer().vocab_size),
                       TrainConfig(steps=1), aux_heads=True)
