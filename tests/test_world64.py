"""The 64x64 shapes world: its tokenizer configs, and AR and VAR built on them, train a step and sample (the
evaluator reads 64x64 images: test_detector)."""

import torch

from imagecot.generators.ar import ARConfig, ARGenerator
from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.sampling import SamplingConfig
from imagecot.generators.var import VARConfig, VARGenerator
from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel
from imagecot.tokenizers.vq import VQConfig, VQModel
from imagecot.train.loop import TrainConfig

PROMPTS = ["a red circle", "two blue squares"]


def test_64px_tokenizers_have_a_16x16_grid_and_var_nine_scales():
    vq, ms = VQConfig.shapes64(), MSVQConfig.shapes64()
    assert (vq.resolution, vq.grid, ms.resolution, ms.grid) == (64, 16, 64, 16)
    assert len(ms.patch_nums) == 9 and ms.patch_nums[-1] == 16


def test_64px_ar_and_var_train_and_sample_64px_images(tmp_path):
    from imagecot.train.ar import train_ar
    from imagecot.train.var import train_var
    torch.manual_seed(0)
    text_vocab = PromptTokenizer().vocab_size
    train_cfg = TrainConfig(steps=2, batch_size=2, log_every=1, ckpt_every=2)
    vq = VQModel(VQConfig.shapes64()).eval()
    ar = train_ar(tmp_path / "ar", vq, ARConfig(image_vocab=vq.vocab_size, grid=16, text_vocab=text_vocab,
                                                d_model=32, n_layer=1, n_head=2), train_cfg)
    msvq = MSVQModel(MSVQConfig(**{**MSVQConfig.shapes64().__dict__, "ch": 16})).eval()
    var = train_var(tmp_path / "var", msvq, VARConfig(vocab_size=msvq.vocab_size, z_channels=msvq.config.z_channels,
                                                      patch_nums=msvq.config.patch_nums, depth=1, embed_dim=32,
                                                      num_heads=2, text_vocab=text_vocab), train_cfg)
    for gen, steps in ((ARGenerator(ar, vq), 16), (VARGenerator(var, msvq), 9)):
        session = gen.start(PROMPTS, SamplingConfig(cfg_scale=2.0), seed=0)
        assert session.num_steps == steps
        out = gen.generate(PROMPTS, SamplingConfig(cfg_scale=2.0), seed=0)
        assert out.images.shape == (2, 3, 64, 64) and out.tokens.shape[1] == (256 if steps == 16 else 655)
