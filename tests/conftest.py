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


@pytest.fixture
def tiny_maskgit(tiny_vq):
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.generators.maskgit import MaskGITConfig, MaskGITGenerator, MaskGITTransformer
    torch.manual_seed(0)
    cfg = MaskGITConfig(image_vocab=32, grid=8, text_vocab=PromptTokenizer().vocab_size, d_model=32,
                        n_layer=2, n_head=4)
    return MaskGITGenerator(MaskGITTransformer(cfg), tiny_vq)


def run(argv, capsys) -> tuple[int, str, str]:
    """imagecot's main(argv) in-process -> (exit code, stdout, stderr); argparse's SystemExit counts as one."""
    from imagecot.cli import main
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def checkpoints(tmp_path, tiny_ar):
    """A tiny AR generator and its tokenizer saved as folders: (ar_dir, vq_dir)."""
    ar_dir, vq_dir = tmp_path / "ckpt" / "ar", tmp_path / "ckpt" / "vq"
    tiny_ar.model.save_pretrained(ar_dir)
    tiny_ar.vq.save_pretrained(vq_dir)
    return ar_dir, vq_dir
