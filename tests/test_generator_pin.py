"""The same seeds give the same samples: the zoo generators' tokens, images, previews and compute, pinned.

tests/data/generator_pin.npz was written before the generators were reshaped onto one core (issue 15); tokens and
compute must match exactly, decoded images within one grey level (float kernels may differ across CPUs)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from imagecot.data.images import to_uint8
from imagecot.zoo import default_sampling, load_generator

PIN = np.load(Path(__file__).parent / "data" / "generator_pin.npz")
PROMPTS = ["a red circle left of a square", "three diamonds", "a blue diamond and a yellow circle"]


def close(a, b):
    return np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("kind", ["ar", "maskgit", "var"])
def test_generate_gives_the_pinned_samples(kind):
    out = load_generator(kind).generate(PROMPTS, default_sampling(None, kind), seed=[11, 22, 33])
    assert np.array_equal(out.tokens.numpy(), PIN[f"{kind}_tokens"])
    assert close(to_uint8(out.images), PIN[f"{kind}_images"])


@pytest.mark.parametrize("kind", ["ar", "maskgit", "var"])
def test_a_session_that_drops_a_candidate_gives_the_pinned_samples(kind):
    s = load_generator(kind).start(PROMPTS, default_sampling(None, kind), seed=[11, 22, 33])
    s.step()
    assert close(to_uint8(s.preview()), PIN[f"{kind}_preview1"])
    s.keep(torch.tensor([True, False, True]))
    while s.t < s.num_steps:
        s.step()
    out = s.finish()
    assert np.array_equal(out.tokens.numpy(), PIN[f"{kind}_kept_tokens"])
    assert out.compute.token_forwards == int(PIN[f"{kind}_kept_compute"])
    assert np.array_equal(out.tokens.numpy(), PIN[f"{kind}_tokens"][[0, 2]])  # dropping one changes no other
