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


def test_encode_decode_round_trip_and_previews(tiny_msvq):
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    idx = tiny_msvq.encode(x)
    assert [t.shape for t in idx] == [(2, pn * pn) for pn in (1, 2, 3, 4, 5, 6, 8)]
    full = tiny_msvq.decode(idx)
    assert full.shape == (2, 3, 32, 32)
    # decoding is a function of the indices: re-encoding the f_hat path gives the same f_hat
    f_hat = tiny_msvq.quantize.idx_to_fhat(idx)
    assert torch.allclose(tiny_msvq.fhat_to_img(f_hat), full)
    # previews from the first k scales differ from the full decode, and k = all equals it
    assert not torch.allclose(tiny_msvq.decode(idx, upto=1), full)
    assert torch.allclose(tiny_msvq.decode(idx, upto=7), full)


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
