"""DDO: the loss on a tiny case, and a tiny class-conditional run that moves likelihood from the reference's own
samples to real data."""

import numpy as np
import pytest
import torch

from imagecot.align.ddo import DDOConfig, ddo_loss, train_ddo
from imagecot.train.loop import TrainConfig


def test_the_ddo_loss_rewards_a_higher_ratio_on_real_and_a_lower_one_on_fake():
    zero = torch.zeros(3)
    at_reference = ddo_loss(zero, zero, zero, zero, beta=0.1, alpha=1.0)
    assert at_reference["loss"].item() == pytest.approx(2 * np.log(2))
    pi_real, pi_fake = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    ddo_loss(pi_real, zero, pi_fake, zero, beta=0.1, alpha=1.0)["loss"].backward()
    assert (pi_real.grad < 0).all() and (pi_fake.grad > 0).all()   # descent: real up, fake down
    better = ddo_loss(zero + 5, zero, zero - 5, zero, beta=0.1, alpha=1.0)
    assert better["loss"] < at_reference["loss"] and better["d_real"] > 0.5 > better["d_fake"]


def test_a_tiny_ddo_run_lifts_real_data_over_the_references_samples(tmp_path, tiny_vq):
    from imagecot.generators.ar import ARConfig, ARGenerator, ARTransformer
    from imagecot.generators.registry import default_sampling
    from imagecot.generators.sampling import SamplingConfig
    torch.manual_seed(0)
    gen = ARGenerator(ARTransformer(ARConfig(image_vocab=32, grid=8, cond_len=1, text_vocab=4, d_model=32, n_layer=1,
                                             n_head=4, class_names=("a", "b"))), tiny_vq)
    real = np.zeros((40, 64), np.int64)   # "real data": class a is all code 3, class b all code 7
    real[20:] = 7
    real[:20] = 3
    classes = np.array([0] * 20 + [1] * 20)
    before = gen.log_prob(torch.from_numpy(real), classes.tolist()).mean()
    gen, rounds = train_ddo(tmp_path / "ddo", gen, real, classes, TrainConfig(batch_size=8, lr=3e-3, warmup=1,
                                                                             log_every=5, ckpt_every=100),
                            DDOConfig(beta=0.05, rounds=2, fake_per_class=8, epochs=4), SamplingConfig())
    assert len(rounds) == 2 and (tmp_path / "ddo" / "round-1" / "final" / "config.json").is_file()
    assert default_sampling(tmp_path / "ddo" / "round-1" / "final") == SamplingConfig()   # kept: no warning
    assert gen.log_prob(torch.from_numpy(real), classes.tolist()).mean() > before + 10
