import json
from pathlib import Path

import pytest
import torch

from imagecot.tokenizers.msvq import MSVQConfig, MSVQModel

REFERENCE = json.loads((Path(__file__).parent / "data" / "var_reference_layout.json").read_text())


def _layout(model: torch.nn.Module) -> dict:
    return {k: [list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()}


def test_official_vqvae_layout_matches_reference_names_and_shapes():
    with torch.device("meta"):
        model = MSVQModel(MSVQConfig.var_official())
    ours, ref = _layout(model), REFERENCE["vqvae_ch160v4096z32"]
    assert sorted(set(ref) - set(ours)) == [] and sorted(set(ours) - set(ref)) == []
    assert {k: v for k, v in ours.items() if v != ref[k]} == {}


def test_official_vqvae_phi_index_per_scale():
    with torch.device("meta"):
        q = MSVQModel(MSVQConfig.var_official()).quantize
    assert [q.quant_resi.index(si, 10) for si in range(10)] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]


@pytest.fixture
def tiny_msvq():
    torch.manual_seed(0)
    return MSVQModel(MSVQConfig(ch=16, ch_mult=(1, 2, 2), vocab_size=32, z_channels=4)).eval()


def test_each_scale_picks_the_nearest_code_to_the_downsampled_residual(tiny_msvq):
    """VAR's procedure, recomputed by hand: r_k = f - sum_{j<k} Phi_j(up(e[idx_j])); idx_k = argmin |area(r_k) - e|."""
    import torch.nn.functional as F
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    q = tiny_msvq.quantize
    f = tiny_msvq.quant_conv(tiny_msvq.encoder(x)).detach()
    idx = tiny_msvq.encode(x)
    assert [t.shape for t in idx] == [(2, pn * pn) for pn in (1, 2, 3, 4, 5, 6, 8)]
    E = q.embedding.weight
    rest = f.clone()
    for k, pn in enumerate(q.patch_nums):
        z = rest if pn == 8 else F.interpolate(rest, size=(pn, pn), mode="area")
        z_NC = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        want = torch.cdist(z_NC, E).argmin(1).view(2, -1)
        assert torch.equal(idx[k], want), k
        h = E[idx[k]].transpose(1, 2).reshape(2, -1, pn, pn)
        h = h if pn == 8 else F.interpolate(h, size=(8, 8), mode="bicubic")
        rest = rest - q.quant_resi.qresi_ls[q.quant_resi.index(k, 7)](h)


def test_previews_refine_towards_the_full_decode(tiny_msvq):
    idx = tiny_msvq.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    full = tiny_msvq.decode(idx)
    errors = [(tiny_msvq.decode(idx, upto=k) - full).abs().mean().item() for k in range(1, 8)]
    assert errors[-1] == 0 and errors[0] > 0


def test_quantized_fhat_equals_sum_of_scale_contributions(tiny_msvq):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    f = tiny_msvq.quant_conv(tiny_msvq.encoder(x))
    f_hat, idx, _ = tiny_msvq.quantize(f)
    assert torch.allclose(f_hat, tiny_msvq.quantize.idx_to_fhat(idx), atol=1e-5)


def test_teacher_forcing_input_is_downsampled_cumulative_fhat(tiny_msvq):
    idx = tiny_msvq.encode(torch.rand(1, 3, 32, 32) * 2 - 1)
    tf = tiny_msvq.quantize.teacher_forcing_input(idx)
    assert tf.shape == (1, sum(pn * pn for pn in (2, 3, 4, 5, 6, 8)), 4)
    f2 = tiny_msvq.quantize.idx_to_fhat(idx, upto=2)
    want = torch.nn.functional.interpolate(f2, size=(3, 3), mode="area").flatten(2).transpose(1, 2)
    assert torch.allclose(tf[:, 4:4 + 9], want, atol=1e-6)


def test_bad_scale_schedule_is_explained():
    with pytest.raises(ValueError, match="last scale"):
        MSVQConfig(patch_nums=(1, 2, 4))


def test_training_forward_runs_under_bf16_autocast_with_float32_quantization(tiny_msvq, tiny_vq):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for model, quantizer in ((tiny_msvq, tiny_msvq.quantize), (tiny_vq, tiny_vq.quantizer)):
        seen = []
        hook = quantizer.register_forward_hook(lambda m, inp, out: seen.append(inp[0].dtype))
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            recon, idx, loss = model(x)
        model.eval()
        hook.remove()
        assert seen == [torch.bfloat16]  # the latent arrives in bf16 ...
        assert torch.isfinite(loss) and loss.dtype == torch.float32  # ... and is quantized in float32
