import json

import pytest
import torch

from imagecot.generators.ar import ARTransformer
from imagecot.train.ar import train_ar
from imagecot.train.loop import TrainConfig, lr_at


class Killed(Exception):
    pass


def _assert_same_weights(a, b):
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, tiny_vq, tiny_ar_config, monkeypatch):
    """Training 6 steps in one go equals a run killed right after its step-4 checkpoint, then resumed."""
    import imagecot.train.loop as loop
    cfg = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup=2, log_every=2, ckpt_every=2)
    straight = train_ar(tmp_path / "a", tiny_vq, tiny_ar_config, cfg)
    orig = loop.save_training_state

    def save_then_maybe_die(path, model, opt, step, extra):
        orig(path, model, opt, step, extra)
        if step == 4:
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(loop, "save_training_state", save_then_maybe_die)
        with pytest.raises(Killed):
            train_ar(tmp_path / "b", tiny_vq, tiny_ar_config, cfg)
    assert json.loads((tmp_path / "b/checkpoint/state.json").read_text())["step"] == 4
    resumed = train_ar(tmp_path / "b", tiny_vq, tiny_ar_config, cfg)
    _assert_same_weights(straight, resumed)
    final = ARTransformer.from_pretrained(tmp_path / "b/final")
    assert torch.equal(final.head.weight, straight.head.weight)


def test_lr_schedule_warms_up_and_decays():
    cfg = TrainConfig(steps=100, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert abs(lr_at(99, cfg) - 0.1) < 1e-3
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def _log_steps(run_dir):
    return [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()
            if "loss" in json.loads(line)]


def test_kill_between_checkpoints_resumes_exactly_without_duplicate_log_rows(tmp_path, tiny_vq, tiny_ar_config,
                                                                            monkeypatch):
    import imagecot.train.ar as ar_mod
    cfg = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup=2, log_every=1, ckpt_every=4)
    straight = train_ar(tmp_path / "a", tiny_vq, tiny_ar_config, cfg)
    orig = ar_mod.ar_loss_fn

    def dying_loss_fn(*a, **k):
        inner = orig(*a, **k)

        def loss_fn(model, step):
            if step == 5:
                raise Killed  # mid-way between the checkpoints at 4 and 6
            return inner(model, step)
        return loss_fn

    with monkeypatch.context() as m:
        m.setattr(ar_mod, "ar_loss_fn", dying_loss_fn)
        with pytest.raises(Killed):
            train_ar(tmp_path / "b", tiny_vq, tiny_ar_config, cfg)
    assert _log_steps(tmp_path / "b") == [1, 2, 3, 4, 5]
    resumed = train_ar(tmp_path / "b", tiny_vq, tiny_ar_config, cfg)
    assert _log_steps(tmp_path / "b") == [1, 2, 3, 4, 5, 6]
    _assert_same_weights(straight, resumed)


def test_kill_between_the_two_renames_of_a_checkpoint_swap_loses_nothing(tmp_path, tiny_vq, tiny_ar_config):
    cfg = TrainConfig(steps=4, batch_size=4, lr=1e-3, warmup=1, log_every=1, ckpt_every=2)
    train_ar(tmp_path / "r", tiny_vq, tiny_ar_config, TrainConfig(**{**vars(cfg), "steps": 2}))
    ckpt = tmp_path / "r" / "checkpoint"
    ckpt.rename(tmp_path / "r" / "checkpoint.old")  # the state a kill after the first rename leaves
    (tmp_path / "r" / ".checkpoint.ab12cd34.tmp").mkdir()   # and a half-written temp folder
    train_ar(tmp_path / "r", tiny_vq, tiny_ar_config, cfg)
    assert json.loads((ckpt / "state.json").read_text())["step"] == 4
    assert _log_steps(tmp_path / "r") == [1, 2, 3, 4]
    assert not list((tmp_path / "r").glob(".checkpoint.*"))


def test_tensorboard_event_files_hold_the_logged_rows_and_a_resume_purges_the_rest(tmp_path, tiny_vq,
                                                                                   tiny_ar_config, monkeypatch):
    """--tensorboard true: the same scalars as log.jsonl, readable by TensorBoard; a run killed after step 5 and
    resumed from its step-4 checkpoint shows each step once."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import imagecot.train.ar as ar_mod
    cfg = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup=2, log_every=1, ckpt_every=4, tensorboard=True)
    orig = ar_mod.ar_loss_fn

    def dying_loss_fn(*a, **k):
        inner = orig(*a, **k)
        return lambda model, step: (_ for _ in ()).throw(Killed) if step == 5 else inner(model, step)

    with monkeypatch.context() as m:
        m.setattr(ar_mod, "ar_loss_fn", dying_loss_fn)
        with pytest.raises(Killed):
            train_ar(tmp_path / "run", tiny_vq, tiny_ar_config, cfg)
    train_ar(tmp_path / "run", tiny_vq, tiny_ar_config, cfg)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4, 5, 6]
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in logged], rel=1e-6)
