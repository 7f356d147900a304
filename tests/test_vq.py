import torch

from imagecot.data.images import to_tensor, to_uint8
from imagecot.data.shapes import ShapesStream
from imagecot.tokenizers.vq import VQConfig, VQModel


def test_shapes_and_ranges(tiny_vq):
    x = to_tensor(ShapesStream(seed=1).batch(0, 4).images_BHW3)
    idx = tiny_vq.encode(x)
    assert idx.shape == (4, 8, 8) and idx.dtype == torch.long
    assert 0 <= idx.min() and idx.max() < 32
    y = tiny_vq.decode(idx)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert to_uint8(y).shape == (4, 32, 32, 3)


def test_64px_config_gives_16x16_grid():
    cfg = VQConfig(resolution=64, channels=(8, 16), codebook_size=16, codebook_dim=4)
    assert cfg.grid == 16
    m = VQModel(cfg)
    assert m.encode(torch.zeros(1, 3, 64, 64)).shape == (1, 16, 16)


def test_dead_codes_are_restarted_from_encoder_outputs():
    torch.manual_seed(0)
    m = VQModel(VQConfig(channels=(8, 16), codebook_size=64, codebook_dim=4, usage_decay=0.5,
                         dead_threshold=0.5)).train()
    x = to_tensor(ShapesStream(seed=0).batch(0, 8).images_BHW3)
    before = m.quantizer.codebook.weight.detach().clone()
    m(x)
    m(x)
    changed = (m.quantizer.codebook.weight != before).any(-1)
    assert changed.any()  # codes never chosen got moved onto encoder outputs


def test_training_lowers_reconstruction_error():
    import tempfile

    from imagecot.train.loop import TrainConfig
    from imagecot.train.tokenizer import train_tokenizer
    with tempfile.TemporaryDirectory() as d:
        cfg = VQConfig(channels=(8, 16), codebook_size=32, codebook_dim=4)
        train_tokenizer(d, cfg, TrainConfig(steps=40, batch_size=8, lr=3e-3, warmup=5, log_every=10,
                                                ckpt_every=100))
        import json
        rows = [json.loads(l) for l in open(f"{d}/log.jsonl")]
        assert rows[-1]["l1"] < 0.6 * rows[0]["l1"]
        assert VQModel.from_pretrained(f"{d}/final").config == cfg


def test_decoder_finetuning_keeps_every_token(tmp_path, tiny_vq):
    from imagecot.train.loop import TrainConfig
    from imagecot.train.tokenizer import train_tokenizer
    tiny_vq.save_pretrained(tmp_path / "base")
    x = to_tensor(ShapesStream(seed=3).batch(0, 8).images_BHW3)
    before = tiny_vq.encode(x)
    tuned = train_tokenizer(tmp_path / "ft", tiny_vq.config, TrainConfig(steps=4, batch_size=4, log_every=2,
                            ckpt_every=2), init=tmp_path / "base", finetune_decoder=True)
    assert torch.equal(tuned.encode(x), before)
    assert torch.equal(tuned.quantizer.codebook.weight, tiny_vq.quantizer.codebook.weight)
    assert not torch.equal(tuned.decoder.net[0].weight, tiny_vq.decoder.net[0].weight)
