"""The Fashion-MNIST track: IDX reading, the class stream, class-conditional AR / MaskGIT / VAR end to end."""

import gzip

import numpy as np
import pytest
import torch

from imagecot.cli import main
from imagecot.data.fashion_mnist import CLASSES, FashionMNISTStream, load_fashion_mnist
from imagecot.generators.condition import ClassTokenizer


def _write_idx(path, arr: np.ndarray, gz: bool = True):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open(f"{path}.gz", "wb") if gz else open(path, "wb")).__enter__().write(data)


@pytest.fixture
def fmnist_root(tmp_path):
    """A 40-image stand-in for Fashion-MNIST in IDX format: class k is a bright k-wide bar."""
    rng = np.random.default_rng(0)
    for split, n, gz in (("train", 40, True), ("t10k", 20, False)):
        labels = np.arange(n) % 10
        imgs = rng.integers(0, 30, (n, 28, 28))
        for i, k in enumerate(labels):
            imgs[i, 4:24, 10:11 + 1 + k] = 220
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte", imgs, gz)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels, gz)
    return tmp_path


def test_idx_files_load_padded_to_32_rgb(fmnist_root):
    imgs, labels = load_fashion_mnist("train", fmnist_root)
    assert imgs.shape == (40, 32, 32, 3) and imgs.dtype == np.uint8 and labels.tolist()[:3] == [0, 1, 2]
    assert (imgs[:, :2] == 0).all() and (imgs[..., 0] == imgs[..., 2]).all()
    test_imgs, _ = load_fashion_mnist("test", fmnist_root)  # plain, un-gzipped files are read too
    assert test_imgs.shape == (20, 32, 32, 3)


def test_bad_idx_and_missing_files_say_what_is_wrong(tmp_path, fmnist_root):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist("train", tmp_path / "nowhere")
    (fmnist_root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(8)))
    with pytest.raises(ValueError, match="not a uint8 IDX"):
        load_fashion_mnist("train", fmnist_root)
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation", fmnist_root)


def test_stream_is_deterministic_per_step(fmnist_root):
    a, b = FashionMNISTStream(0, root=fmnist_root), FashionMNISTStream(0, root=fmnist_root)
    x, y = a.batch(5, 8), b.batch(5, 8)
    np.testing.assert_array_equal(x.images_BHW3, y.images_BHW3)
    assert [s["prompt"] for s in x.specs] == [CLASSES[k] for k in x.labels_B]
    assert not np.array_equal(a.batch(6, 8).labels_B, x.labels_B)


def test_class_tokenizer_takes_names_and_ids():
    t = ClassTokenizer(CLASSES)
    assert t.encode(["Sneaker", 7, "7"]).tolist() == [[9], [9], [9]]
    assert t.null(2).tolist() == [[1], [1]] and t.vocab_size == 12
    with pytest.raises(ValueError, match="unknown class 'hat'"):
        t.encode(["hat"])


@pytest.mark.parametrize("kind", ["ar", "maskgit"])
def test_class_conditional_grid_generators_train_and_sample_by_class(tmp_path, fmnist_root, kind):
    from imagecot.zoo import load_generator
    tok, run = tmp_path / "tok", tmp_path / kind
    common = ["--data", "fashion-mnist", "--data-root", str(fmnist_root), "--batch-size", "4", "--log-every", "1"]
    assert main(["train", "tokenizer", "--out", str(tok), "--channels", "8", "16", "--codebook-size", "32",
                 "--codebook-dim", "4", "--steps", "2", *common]) == 0
    assert main(["train", kind, "--out", str(run), "--tokenizer", str(tok / "final"), "--d-model", "32",
                 "--n-layer", "1", "--n-head", "4", "--steps", "2", *common]) == 0
    gen = load_generator(kind, run / "final", tok / "final")
    assert gen.model.config.class_names == CLASSES and gen.model.config.cond_len == 1
    out = gen.generate(["sneaker", 0], seed=0)
    assert out.images.shape == (2, 3, 32, 32)
    black = torch.full((1, 3, 32, 32), -1.0)  # the preview canvas is Fashion-MNIST's black, not the shapes grey
    assert torch.equal(gen.blank_tokens_N, gen.vq.encode(black).view(-1))


def test_class_conditional_var_trains_and_samples_by_class(tmp_path, fmnist_root):
    from imagecot.generators.var import VARGenerator, VARTransformer
    from imagecot.tokenizers.msvq import MSVQModel
    tok, run = tmp_path / "msvq", tmp_path / "var"
    common = ["--data", "fashion-mnist", "--data-root", str(fmnist_root), "--batch-size", "4", "--log-every", "1"]
    assert main(["train", "msvq", "--out", str(tok), "--ch", "16", "--vocab-size", "32", "--z-channels", "4",
                 "--steps", "2", *common]) == 0
    assert main(["train", "var", "--out", str(run), "--tokenizer", str(tok / "final"), "--depth", "1",
                 "--embed-dim", "32", "--num-heads", "4", "--steps", "2", *common]) == 0
    model = VARTransformer.from_pretrained(run / "final")
    assert (model.config.condition, model.config.num_classes, model.config.data) == ("class", 10, "fashion-mnist")
    gen = VARGenerator(model, MSVQModel.from_pretrained(tok / "final"))
    out = gen.generate(["bag", 3], seed=0)
    assert out.images.shape == (2, 3, 32, 32) and torch.isfinite(out.images).all()
    # DDO takes it as it takes the AR: the training images' multi-scale codes are the real side
    assert main(["train", "ddo", "--generator", "var", "--checkpoint", str(run / "final"), "--tokenizer",
                 str(tok / "final"), "--out", str(tmp_path / "ddo"), "--data-root", str(fmnist_root),
                 "--fake-per-class", "1", "--batch-size", "4"]) == 0
    tuned = VARTransformer.from_pretrained(tmp_path / "ddo" / "round-0" / "final")
    assert not torch.equal(tuned.head.weight, model.head.weight)


def test_train_ddo_from_the_cli_fine_tunes_the_shipped_fmnist_ar_on_real_tokens(fmnist_root, tmp_path, capsys):
    import json
    out = tmp_path / "ddo"
    assert main(["train", "ddo", "--out", str(out), "--data-root", str(fmnist_root), "--fake-per-class", "1",
                 "--batch-size", "4", "--rounds", "2"]) == 0
    assert "trained ddo in" in capsys.readouterr().out
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1] and rounds[0]["fake_samples"] == 10
    assert (out / "round-1" / "final" / "model.safetensors").is_file()
    from imagecot.zoo import load_generator
    gen = load_generator("ar", out / "round-1" / "final", "zoo:fmnist-tokenizer")   # loads as any checkpoint
    assert gen.generate(["trouser"], seed=0).images.shape == (1, 3, 32, 32)
