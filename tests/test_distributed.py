"""torchrun's work sharing, tiny, on 2 gloo ranks in-process (torch.multiprocessing): sampling writes the bytes one
process writes, a killed run resumes with every image once, and 2-rank training follows 1-rank training."""

import hashlib
import os
import socket
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

from imagecot import distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, job: str, out: str, results: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    distributed.init()
    code = 1
    try:
        torch.save(_JOBS[job](Path(out)), Path(results) / f"rank-{rank}.pt")
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        torch.distributed.destroy_process_group()
    # as `cli.run` does: skip the interpreter's teardown, where gloo's threads can abort a loaded machine's rank
    # (SIGABRT, "terminate called without an active exception") after the work is done and saved
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _tiny_ar():
    from imagecot.generators.ar import ARConfig, ARGenerator, ARTransformer
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.tokenizers.vq import VQConfig, VQModel
    torch.manual_seed(0)
    vq = VQModel(VQConfig(channels=(8, 16), codebook_size=32, codebook_dim=4)).eval()
    torch.manual_seed(0)
    return ARGenerator(ARTransformer(ARConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size, d_model=32,
                                              n_layer=2, n_head=4)), vq)


def _generate(out: Path):
    from imagecot.pipeline import generate_folder
    from imagecot.world.benchmark import load_benchmark
    return generate_folder(_tiny_ar(), load_benchmark()[:5], out, 2, batch_size=4, progress=False)["generated_now"]


def _train(out: Path):
    from imagecot.generators.ar import ARConfig
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.train.ar import train_ar
    from imagecot.train.loop import TrainConfig
    cfg = ARConfig(image_vocab=32, text_vocab=PromptTokenizer().vocab_size, d_model=32, n_layer=1, n_head=4)
    model = train_ar(out, _tiny_ar().vq, cfg, TrainConfig(steps=3, batch_size=8, lr=3e-3, warmup=1, log_every=1,
                                                          ckpt_every=2))
    return {k: v.clone() for k, v in model.state_dict().items()}


def _train_killed(out: Path):
    """`_train` killed on every rank inside step 3, after the step-2 checkpoint."""
    import imagecot.train.ar as ar_train
    make = ar_train.ar_loss_fn

    def killed_at_step_3(*a, **kw):
        inner = make(*a, **kw)

        def loss_fn(model, step):
            if step == 2:
                raise KeyboardInterrupt
            return inner(model, step)
        return loss_fn
    ar_train.ar_loss_fn = killed_at_step_3
    try:
        _train(out)
    except KeyboardInterrupt:
        return "killed"
    finally:
        ar_train.ar_loss_fn = make


def _features(out: Path):
    from imagecot.evaluation.fid import features_of_source
    from imagecot.evaluation.inception import InceptionExtractor
    f = features_of_source(out / "images", InceptionExtractor(out / "features.pt"), keep=8, probs=False,
                           progress=False, batch_size=4)
    return f.n, torch.from_numpy(f.mu), torch.from_numpy(f.sigma)   # tensors: results travel by torch.save


_JOBS = {"generate": _generate, "train": _train, "train_killed": _train_killed, "features": _features}


def _run(world: int, job: str, out: Path) -> dict:
    results = out.parent / f"results-{out.name}"
    results.mkdir(exist_ok=True)
    mp.start_processes(_worker, args=(world, _free_port(), job, str(out), str(results)), nprocs=world,
                       start_method="spawn")
    return {r: torch.load(results / f"rank-{r}.pt") for r in range(world)}


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_two_ranks_write_the_bytes_one_process_writes_and_resume_every_image_once(tmp_path):
    one = _generate(tmp_path / "one")
    two = _run(2, "generate", tmp_path / "two")
    assert one == 10 and two == {0: 10, 1: 10}   # each rank reports the run's total
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    for p in list((tmp_path / "two").glob("0000[13]")):   # a kill that lost two prompts' folders
        for f in sorted(p.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        p.rmdir()
    again = _run(2, "generate", tmp_path / "two")
    assert again == {0: 4, 1: 4} and _files(tmp_path / "one") == _files(tmp_path / "two")


def test_two_rank_training_follows_one_rank_training(tmp_path):
    one = _train(tmp_path / "one")
    two = _run(2, "train", tmp_path / "two")
    for k, v in one.items():
        assert torch.allclose(two[0][k], v, atol=1e-5), k
        assert torch.equal(two[0][k], two[1][k]), k
    assert (tmp_path / "two" / "final" / "config.json").is_file()


def test_killed_two_rank_training_resumes_to_the_uninterrupted_weights(tmp_path):
    whole = _run(2, "train", tmp_path / "whole")
    assert _run(2, "train_killed", tmp_path / "run") == {0: "killed", 1: "killed"}
    assert '"step": 2' in (tmp_path / "run" / "checkpoint" / "state.json").read_text()
    resumed = _run(2, "train", tmp_path / "run")
    for k, v in whole[0].items():
        assert torch.equal(resumed[0][k], v), k
        assert torch.equal(resumed[1][k], v), k


def test_sharded_fid_statistics_equal_one_process_to_float64_rounding(tmp_path):
    import numpy as np
    from test_fid import FeaturesOnly, _folder, _images, _script
    _script(tmp_path, FeaturesOnly, "features.pt")
    _folder(tmp_path / "images", _images(11))
    n, mu, sigma = _features(tmp_path)
    two = _run(2, "features", tmp_path)
    for r in (0, 1):
        assert two[r][0] == n == 11
        np.testing.assert_allclose(two[r][1].numpy(), mu.numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(two[r][2].numpy(), sigma.numpy(), rtol=1e-10, atol=1e-12)
