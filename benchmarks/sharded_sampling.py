"""Sharded sampling: 1 process x T threads against K torchrun processes x (T/K) threads, same images.

Runs `imagecot geneval generate --limit L` both ways into fresh folders, times each (wall clock, one run each, so
the ratio is taken in one sitting), and prints images/s. The ranks' images must equal, byte for byte, those of one
process at the ranks' thread count (a third, untimed run); the bytes depend on the thread count (a CPU GEMM's
reduction order), so the script also counts the images that differ between the two single-process runs.
Usage: python benchmarks/sharded_sampling.py --limit 64 --procs 2 --threads 2 [--generator ar] [--out DIR]
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


def pngs(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.png"))}


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=64, help="benchmark prompts (4 images each)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads of the single process (each rank gets 1/procs)")
    ap.add_argument("--generator", default="ar")
    ap.add_argument("--out", type=Path, default=Path("out/sharded-sampling"))
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    args = ["geneval", "generate", "--generator", a.generator, "--limit", str(a.limit)]
    env1 = {**os.environ, "OMP_NUM_THREADS": str(a.threads)}
    envk = {**os.environ, "OMP_NUM_THREADS": str(max(1, a.threads // a.procs))}
    one = timed([sys.executable, "-m", "imagecot", *args, "--out", str(a.out / "one")], env1)
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    many = timed([torchrun, "--standalone", "--nproc_per_node", str(a.procs), "-m", "imagecot", *args,
                  "--out", str(a.out / "many")], envk)
    hashes_one, hashes_many = pngs(a.out / "one"), pngs(a.out / "many")
    n = len(hashes_one)
    res = {"images": n, "one_process_threads": a.threads, "one_process_s": round(one, 1),
           "one_process_images_per_s": round(n / one, 2), "ranks": a.procs, "ranks_s": round(many, 1),
           "ranks_images_per_s": round(n / many, 2), "speedup": round(one / many, 2)}
    # the bytes depend on the torch thread count (CPU GEMM reduction order), not on the sharding: the identity check
    # compares the ranks with one process at the ranks' thread count
    per_rank = max(1, a.threads // a.procs)
    if per_rank != a.threads:
        timed([sys.executable, "-m", "imagecot", *args, "--out", str(a.out / "one-same-threads")], envk)
        reference = pngs(a.out / "one-same-threads")
        res["images_differing_between_thread_counts"] = sum(hashes_one[k] != reference[k] for k in reference)
    else:
        reference = hashes_one
    res[f"byte_identical_to_one_process_at_{per_rank}_thread(s)"] = same = reference == hashes_many
    print(json.dumps(res, indent=2))
    if not same:
        raise SystemExit("the sharded run's images differ from one process's at the same thread count")

if __name__ == "__main__":
    main()
