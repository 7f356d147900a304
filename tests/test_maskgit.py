import pytest
import torch

from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.maskgit import (
    MaskGITConfig,
    MaskGITTransformer,
    mask_schedule,
)
from imagecot.generators.sampling import SamplingConfig

PROMPTS = ["a red circle", "two squares", "a triangle left of a diamond"]


@pytest.mark.parametrize("steps", [1, 4, 8, 12, 20, 32])
def test_schedule_reveals_every_token_by_the_last_step_and_something_at_every_step(steps):
    counts = mask_schedule(steps, 64)
    assert counts[-1] == 0
    assert all(a > b for a, b in zip([64] + counts, counts))  # every step reveals at least one token


@pytest.mark.parametrize("steps", [4, 8])
def test_sampling_follows_the_schedule_and_keeps_revealed_tokens(tiny_maskgit, steps):
    sess = tiny_maskgit.start(PROMPTS, SamplingConfig(cfg_scale=2.0), seed=0, steps=steps)
    mask_id = tiny_maskgit.model.config.mask_id
    prev = sess.tokens_BN.clone()
    for t in range(steps):
        sess.step()
        n_masked = (sess.tokens_BN == mask_id).sum(1)
        assert (n_masked == mask_schedule(steps, 64)[t]).all()
        revealed = prev != mask_id
        assert torch.equal(sess.tokens_BN[revealed], prev[revealed])
        prev = sess.tokens_BN.clone()
    out = sess.finish()
    assert (out.tokens != mask_id).all() and out.images.shape == (3, 3, 32, 32)
    assert out.compute.token_forwards == steps * 2 * 3 * (12 + 64)


def test_deterministic_per_candidate_seed_and_drop(tiny_maskgit):
    s = SamplingConfig(cfg_scale=1.5, top_k=10)
    full = tiny_maskgit.generate(PROMPTS, s, seed=[5, 6, 7])
    assert torch.equal(tiny_maskgit.generate(PROMPTS[1:], s, seed=[6, 7]).tokens, full.tokens[1:])
    sess = tiny_maskgit.start(PROMPTS, s, seed=[5, 6, 7])
    sess.step()
    assert sess.preview().shape == (3, 3, 32, 32)
    sess.keep(torch.tensor([False, True, True]))
    before = sess.compute.token_forwards
    while sess.t < sess.num_steps:
        sess.step()
    out = sess.finish()
    assert torch.equal(out.tokens, full.tokens[1:]) and out.ids.tolist() == [1, 2]
    assert out.compute.token_forwards - before == 7 * 2 * 2 * (12 + 64)


def test_log_prob_in_the_samplers_order_equals_the_samplers_own_log_prob(tiny_maskgit):
    """At cfg 1, temperature 1 and no top-k/p the sampler draws from the model: the sum of log p of the tokens it
    fixes, step by step, is what `sequence_log_prob` gives in the order it fixed them (reveal_step_BN)."""
    s = tiny_maskgit.start(PROMPTS, SamplingConfig(), seed=[4, 5, 6], steps=6)
    s.step()
    s.keep(torch.tensor([True, False, True]))   # dropping one changes nothing for the others
    while s.t < s.num_steps:
        s.step()
    out = s.finish()
    assert (s.reveal_step_BN >= 0).all() and s.reveal_step_BN.max() == 5
    lp = tiny_maskgit.log_prob(out.tokens, [PROMPTS[0], PROMPTS[2]], reveal_step_BN=s.reveal_step_BN)
    assert torch.allclose(lp.double(), out.log_prob, atol=1e-3) and (lp < 0).all()


def test_log_prob_is_a_seeded_differentiable_masked_likelihood(tiny_maskgit):
    out = tiny_maskgit.generate(PROMPTS[:2], SamplingConfig(), seed=0)
    a = tiny_maskgit.log_prob(out.tokens, PROMPTS[:2], seed=3)
    b = tiny_maskgit.log_prob(out.tokens, PROMPTS[:2], seed=3)
    assert torch.equal(a, b) and a.shape == (2,) and (a < 0).all()
    a.sum().backward()
    assert tiny_maskgit.model.head.weight.grad is not None


def test_training_lowers_masked_token_loss(tiny_vq):
    from imagecot.data.shapes import ShapesStream
    from imagecot.train.maskgit import maskgit_loss_fn
    torch.manual_seed(0)
    model = MaskGITTransformer(MaskGITConfig(image_vocab=32, grid=8, text_vocab=PromptTokenizer().vocab_size,
                                             d_model=32, n_layer=2, n_head=4))
    loss_fn = maskgit_loss_fn(tiny_vq, ShapesStream(seed=0), 16)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(60):
        loss = loss_fn(model, step % 2)["loss"]
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert sum(losses[-5:]) / 5 < 0.85 * sum(losses[:5]) / 5


def test_inpainting_keeps_the_rest_and_full_remask_is_plain_sampling(tiny_maskgit):
    s = SamplingConfig(cfg_scale=2.0)
    base = tiny_maskgit.generate(PROMPTS, s, seed=[5, 6, 7])
    remask = torch.zeros(3, 64, dtype=torch.bool)
    remask[:, 20:36] = True
    remask[2] = False  # nothing to redo for the third
    out = tiny_maskgit.inpaint(base.tokens, remask, PROMPTS, s, seed=[8, 9, 10])
    assert torch.equal(out.tokens[~remask], base.tokens[~remask])
    assert (out.tokens != tiny_maskgit.model.config.mask_id).all()
    assert not torch.equal(out.tokens[0, 20:36], base.tokens[0, 20:36])  # redone, with other seeds
    everything = tiny_maskgit.inpaint(base.tokens, torch.ones(3, 64, dtype=torch.bool), PROMPTS, s, seed=[5, 6, 7])
    assert torch.equal(everything.tokens, base.tokens)
    with pytest.raises(ValueError, match="both"):
        tiny_maskgit.start(PROMPTS, s, init_tokens=base.tokens)
