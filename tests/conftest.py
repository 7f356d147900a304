import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def tiny_vq():
    from imagecot.tokenizers.vq import VQConfig, VQModel
    torch.manual_seed(0)
    return VQModel(VQConfig(channels=(8, 16), codebook_size=32, codebook_dim=4)).eval()


@pytest.fixture
def tiny_ar_config():
    from imagecot.generators.ar import ARConfig
    from imagecot.generators.condition import PromptTokenizer
    return ARConfig(image_vocab=32, grid=8, cond_len=12, text_vocab=PromptTokenizer().vocab_size,
                    d_model=32, n_layer=2, n_head=4)


@pytest.fixture
def tiny_ar(tiny_vq, tiny_ar_config):
    from imagecot.generators.ar import ARGenerator, ARTransformer
    torch.manual_seed(0)
    return ARGenerator(ARTransformer(tiny_ar_config), tiny_vq)
