"""VAR's raster draft: coarse scales token by token (a small AR), fine scales by plain VAR."""

import pytest
import torch
import torch.nn.functional as F

from imagecot.generators.ar import ARConfig, ARTransformer
from imagecot.generators.condition import PromptTokenizer
from imagecot.generators.sampling import SamplingConfig
from imagecot.generators.var import VARConfig, VARGenerator, VARTransformer
from imagecot.generators.var_draft import CoarseScales, draft_scales, load_draft
from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel

PROMPTS = ["a red circle", "two squares", "a triangle left of a diamond"]
D = 3   # scales 1, 2, 3 of (1, 2, 3, 4, 5, 6, 8): 14 tokens


@pytest.fixture
def drafted():
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4)).eval()
    text_vocab = PromptTokenizer().vocab_size
    model = VARTransformer(VARConfig(vocab_size=32, z_channels=4, depth=2, embed_dim=32, num_heads=4,
                                     condition="text", text_vocab=text_vocab))
    with torch.no_grad():  # AdaLN gammas start near zero; wake them so the fine scales depend on the draft
        for blk in model.blocks:
            blk.ada_lin[-1].bias.normal_(0, 0.5)
    draft = ARTransformer(ARConfig(image_vocab=32, seq_len=14, text_vocab=text_vocab, d_model=32, n_layer=2,
                                   n_head=4))
    return VARGenerator(model, vq, draft=draft)


def test_draft_length_must_end_at_a_scale():
    assert draft_scales((1, 2, 3, 4), 14) == 3
    with pytest.raises(ValueError, match="does not end at a scale"):
        draft_scales((1, 2, 3, 4), 10)


def test_coarse_tokens_are_the_drafts_and_fine_scales_are_plain_vars_log_probs(drafted):
    """At cfg 1 and no filtering the session's log-prob splits exactly: the draft's teacher-forced log-prob of the
    coarse tokens, plus plain VAR's teacher-forced log-prob of the fine scales given them."""
    out = drafted.generate(PROMPTS, SamplingConfig(), seed=0)
    n = 14
    cond = drafted.draft_conditioner.encode(PROMPTS)
    lp_draft = drafted.draft.sequence_log_prob(out.tokens[:, :n], cond)
    with torch.no_grad():
        x = drafted.vq.quantize.teacher_forcing_input(drafted.token_maps(out.tokens))
        logits_BLV = drafted.model(drafted.conditioner.encode(PROMPTS), x, cond_drop=0.0)
    lp_tok_BL = F.log_softmax(logits_BLV, -1).gather(-1, out.tokens[..., None]).squeeze(-1)
    lp_fine = lp_tok_BL[:, n:].sum(1)
    assert torch.allclose((lp_draft + lp_fine).double(), out.log_prob, atol=1e-3)
    assert torch.allclose(drafted.log_prob(out.tokens, PROMPTS).double(), out.log_prob, atol=1e-3)
    # ... and the coarse tokens are not what VAR itself gives them: the draft, not VAR, drew them
    assert not torch.allclose(lp_tok_BL[:, :n].sum(1).double() + lp_fine.double(), out.log_prob, atol=1e-2)


def test_fine_scales_equal_plain_var_given_the_same_coarse_tokens(drafted):
    """Plain VAR forced to the draft's coarse tokens (through its own session, guided) draws the same fine tokens:
    only the coarse scales differ between the two samplers."""
    s = SamplingConfig(cfg_scale=2.5, top_k=20)
    with_draft = drafted.generate(PROMPTS, s, seed=[3, 4, 5])
    plain = drafted.start(PROMPTS, s, seed=[3, 4, 5], draft=False)
    plain.draft_D, plain.draft_tokens_Bn = D, with_draft.tokens[:, :14]   # force the coarse scales
    plain.draft_logp_Bn = torch.zeros(3, 14, dtype=torch.float64)
    while plain.t < plain.num_steps:
        plain.step()
    assert torch.equal(plain.finish().tokens, with_draft.tokens)
    no_draft = drafted.generate(PROMPTS, s, seed=[3, 4, 5], draft=False)
    assert not torch.equal(no_draft.tokens[:, :14], with_draft.tokens[:, :14])


def test_drafted_sessions_are_batch_and_cache_independent_and_drop_candidates(drafted):
    s = SamplingConfig(cfg_scale=2.0)
    both = drafted.generate(PROMPTS, s, seed=[7, 8, 9])
    alone = drafted.generate(PROMPTS[1:2], s, seed=[8])
    uncached = drafted.generate(PROMPTS, s, seed=[7, 8, 9], use_cache=False)
    assert torch.equal(both.tokens[1], alone.tokens[0]) and torch.equal(both.tokens, uncached.tokens)
    session = drafted.start(PROMPTS, s, seed=[7, 8, 9])
    session.step()
    session.keep(torch.tensor([0, 2]))
    while session.t < session.num_steps:
        session.step()
    kept = session.finish()
    assert torch.equal(kept.tokens, both.tokens[[0, 2]])
    assert kept.compute.token_forwards < both.compute.token_forwards


def test_train_var_draft_from_the_cli_writes_a_loadable_generator(tmp_path):
    """`imagecot train var-draft` fits the draft to a VAR's tokenizer and writes VAR + draft as one checkpoint,
    which every VAR loader reads with its draft."""
    from imagecot.cli import main
    from imagecot.generators.registry import load_generator
    torch.manual_seed(0)
    vq = MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4))
    var = VARTransformer(VARConfig(vocab_size=32, z_channels=4, depth=1, embed_dim=32, num_heads=4,
                                   condition="text", text_vocab=PromptTokenizer().vocab_size))
    vq.save_pretrained(tmp_path / "msvq")
    var.save_pretrained(tmp_path / "var")
    out = tmp_path / "draft-run"
    assert main(["train", "var-draft", "--var", str(tmp_path / "var"), "--tokenizer", str(tmp_path / "msvq"),
                 "--draft-scales", "3", "--out", str(out), "--d-model", "32", "--n-layer", "1", "--n-head", "2",
                 "--steps", "4", "--batch-size", "4", "--log-every", "1"]) == 0
    gen = load_generator("var", out / "generator", tmp_path / "msvq")
    assert gen.draft_scales == 3 and gen.draft.config.seq_len == 14
    assert load_draft(tmp_path / "var") is None
    assert gen.generate(PROMPTS[:1], seed=0).images.shape == (1, 3, 32, 32)
    coarse = CoarseScales(vq, 3)
    assert coarse.encode(torch.zeros(2, 3, 32, 32)).shape == (2, 14)
