import numpy as np
import pytest
import torch
from PIL import Image

from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.maskgit import MaskGITConfig, MaskGITGenerator, MaskGITTransformer
from imagecot.generators.var import VARConfig, VARGenerator, VARTransformer
from imagecot.preview import collect_previews, preview_strip
from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel


def _var():
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4))
    return VARGenerator(VARTransformer(VARConfig(vocab_size=32, z_channels=4, depth=1, embed_dim=32, num_heads=4,
                                                 text_vocab=PromptTokenizer().vocab_size)), vq)


def _maskgit(vq):
    torch.manual_seed(0)
    return MaskGITGenerator(MaskGITTransformer(MaskGITConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size,
                                                             d_model=32, n_layer=1, n_head=4)), vq)


@pytest.mark.parametrize("kind, steps", [("ar", 8), ("var", 7), ("maskgit", 8)])
def test_every_generator_runs_the_same_step_protocol(tiny_ar, tiny_vq, kind, steps):
    gen = {"ar": lambda: tiny_ar, "var": _var, "maskgit": lambda: _maskgit(tiny_vq)}[kind]()
    frames = collect_previews(gen, ["a red circle", "two squares"], seed=1)
    assert frames.shape == (steps + 1, 2, 32, 32, 3) and frames.dtype == np.uint8
    # the last preview is the final image
    assert np.array_equal(frames[-2], frames[-1])


def test_preview_strip_png(tmp_path, tiny_ar):
    path = preview_strip(tiny_ar, "a circle", tmp_path / "strip.png", n=3, scale=1, pad=2)
    w, h = Image.open(path).size
    assert w >= 9 * 34 + 2 and h > 3 * 34 + 2   # 9 steps x 3 candidates of 32 + pad 2, and the labels' room
