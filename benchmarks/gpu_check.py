"""The CUDA paths, checked on a GPU machine in one short run; prints one JSON line per check.

1. Training on `--device cuda`: a tiny AR trained uninterrupted, against the same run killed after its first
   checkpoint and resumed (on the GPU, and from a CPU-written checkpoint onto the GPU). Max weight differences.
2. Sampling on the GPU: `imagecot geneval generate` for every zoo generator, images/s on cuda and on the CPU in
   the same sitting; how many images keep their bytes on cuda across a rerun and across batch sizes 64 and 8,
   and how many equal the CPU's bytes.
3. nccl: two torchrun ranks training on one GPU (nccl refuses two ranks on one device; reported as found).

Usage: python benchmarks/gpu_check.py [--limit 16] [--out DIR]   (needs torch with CUDA)
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch


def say(**row) -> None:
    print(json.dumps(row), flush=True)


def pngs(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.png"))}


class Killed(Exception):
    pass


def train_tiny(out: Path, device: str, kill_after: int | None = None):
    """A tiny AR on the zoo tokenizer, 30 steps, checkpoints every 10; `kill_after` raises inside that step."""
    from imagecot.generators.ar import ARConfig, ARTransformer
    from imagecot.generators.condition import PromptTokenizer
    from imagecot.train import ar as ar_train
    from imagecot.train.loop import TrainConfig, train
    from imagecot.zoo import load_tokenizer
    vq = load_tokenizer(None)
    cfg = TrainConfig(steps=30, batch_size=16, lr=1e-3, warmup=5, log_every=10, ckpt_every=10, device=device)
    mcfg = ARConfig(image_vocab=vq.vocab_size, grid=vq.config.grid, text_vocab=PromptTokenizer(12).vocab_size,
                    d_model=64, n_layer=2, n_head=4)
    vq.eval().to(device)
    inner = ar_train.ar_loss_fn(vq, ar_train.make_stream(mcfg.data, 0, vq.config.resolution, None), 16)

    def loss_fn(model, step):
        if kill_after is not None and step == kill_after:
            raise Killed
        return inner(model, step)
    torch.manual_seed(0)
    try:
        return train(ARTransformer(mcfg), loss_fn, out, cfg)
    except Killed:
        return None


def max_diff(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float((sa[k].float().cpu() - sb[k].float().cpu()).abs().max()) for k in sa)


def check_training(out: Path, dev: str) -> None:
    t0 = time.time()
    whole = train_tiny(out / "whole", dev)
    train_tiny(out / "killed", dev, kill_after=15)
    resumed = train_tiny(out / "killed", dev)
    train_tiny(out / "cpu-then-cuda", "cpu", kill_after=15)
    moved = train_tiny(out / "cpu-then-cuda", dev)
    say(check="train ar on cuda, killed at step 15 and resumed from step 10",
        device=str(next(resumed.parameters()).device),
        max_weight_diff_resumed_vs_whole=max_diff(whole, resumed),
        max_weight_diff_cpu_checkpoint_resumed_on_cuda_vs_whole=max_diff(whole, moved), seconds=time.time() - t0)


def run(cmd: list[str], env=None) -> float:
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env or os.environ.copy(), stdout=subprocess.DEVNULL)
    return time.time() - t0


def check_sampling(out: Path, limit: int, dev: str) -> None:
    base = [sys.executable, "-m", "imagecot", "geneval", "generate", "--limit", str(limit)]
    for gen in ("ar", "maskgit", "var"):
        cuda, cuda8, cpu = (out / f"{gen}-{k}" for k in ("cuda", "cuda-b8", "cpu"))
        run(base + ["--generator", gen, "--out", str(out / f"{gen}-warm"), "--device", dev, "--limit", "1"])
        t_cuda = run(base + ["--generator", gen, "--out", str(cuda), "--device", dev, "--batch-size", "64"])
        run(base + ["--generator", gen, "--out", str(cuda8), "--device", dev, "--batch-size", "8"])
        run(base + ["--generator", gen, "--out", str(out / f"{gen}-again"), "--device", dev, "--batch-size", "64"])
        t_cpu = run(base + ["--generator", gen, "--out", str(cpu), "--device", "cpu", "--batch-size", "64"])
        a, b, c = pngs(cuda), pngs(cuda8), pngs(cpu)
        n = len(a)
        say(check=f"geneval generate --generator {gen}, {limit} prompts x 4 images", images=n,
            cuda_images_per_s=n / t_cuda, cpu_images_per_s=n / t_cpu, cpu_threads=torch.get_num_threads(),
            cuda_images_equal_batch_64_vs_8=sum(a[k] == b.get(k) for k in a),
            cuda_images_equal_rerun_batch_64=sum(a[k] == v for k, v in pngs(out / f"{gen}-again").items()),
            images_equal_to_cpu_bytes=sum(a[k] == c.get(k) for k in a))


def check_nccl(out: Path, dev: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "imagecot", "train", "ar", "--out",
           str(out / "nccl"), "--steps", "4", "--batch-size", "8", "--d-model", "32", "--n-layer", "1",
           "--n-head", "2", "--device", dev + ":0" if dev == "cuda" else dev]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    lines = [line.strip() for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    tail = [line for line in lines if "rror" in line and "elastic" not in line][:4] or lines[-4:]
    say(check="torchrun 2 ranks, nccl, one GPU", returncode=p.returncode, tail=tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=16, help="benchmark prompts per sampling check (4 images each)")
    ap.add_argument("--out", type=Path, default=Path("out/gpu-check"))
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script on a machine without a GPU")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check needs torch with a CUDA GPU (or --device cpu for a dry run)")
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    if a.device == "cuda":
        say(check="machine", gpu=torch.cuda.get_device_name(0), torch=torch.__version__, cuda=torch.version.cuda,
            nccl=".".join(map(str, torch.cuda.nccl.version())), gpus=torch.cuda.device_count())
    check_training(a.out, a.device)
    check_sampling(a.out, a.limit, a.device)
    check_nccl(a.out, a.device)


if __name__ == "__main__":
    main()
