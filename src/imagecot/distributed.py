"""Scale-out with torchrun: this process's rank, and collectives that are no-ops in a single process.

`torchrun --nproc_per_node K -m imagecot ...` starts K processes with RANK,
WORLD_SIZE and a rendezvous in the environment; `init()` joins them (gloo on
CPU, nccl on CUDA). Without torchrun every function here is the one-process
identity, so library code calls them unconditionally.

How the work is shared:
- sampling (`writer.write_in_batches`): every rank computes the same list of
  unfinished items from the folder, then takes items rank, rank + K, ...; each
  item is seeded by its index alone, so K ranks write the bytes one process
  writes, and a killed run resumes with nothing lost or duplicated;
- folder checks and summaries: rank 0 only (`on_main`), its verdict or error
  broadcast to all ranks so that none hangs;
- training (`train.loop`): every rank builds the step's global batch from the
  step's seed and keeps its rows (`local_rows`); gradients are averaged over
  ranks before each optimizer step, so K ranks follow one process's updates
  (to float rounding); rank 0 saves checkpoints and logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.distributed as dist


def init(device: str = "cpu") -> None:
    """Join the torchrun group if launched by torchrun (WORLD_SIZE > 1) and not joined yet."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
        if str(device).startswith("cuda"):
            torch.cuda.set_device(local_device(device))   # cuda: this rank's GPU; cuda:N as given


def close() -> None:
    """Leave the torchrun group (torch's documented shutdown; `cli.run` then exits without the interpreter's
    teardown, where gloo can still abort)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj):
    """Rank 0's `obj` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_all(obj) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not active():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def on_main(fn: Callable):
    """Run `fn()` on rank 0 only and give every rank its result; a ValueError or OSError it raises is raised on
    every rank (so a refused folder stops all of them, none waits forever)."""
    result, error = None, None
    if is_main():
        try:
            result = fn()
        except (ValueError, OSError) as e:
            error = e
    result, error = broadcast((result, error))
    barrier()
    if error is not None:
        raise error
    return result


def local_device(device: str | torch.device) -> torch.device:
    """`device` for this process: under torchrun, "cuda" means this rank's GPU (LOCAL_RANK). A ValueError when CUDA
    is asked for on a machine without it."""
    d = torch.device(device)
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: torch sees no CUDA GPU on this machine; expected --device cpu")
        if d.index is None and active():
            d = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return d


def _wire() -> torch.device:
    """Where collective tensors live: the GPU under nccl, the CPU under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def my_share(items: list) -> list:
    """This rank's items: rank, rank + K, rank + 2K, ... (balanced whatever the order)."""
    return items[rank()::world()]


def local_rows(n: int) -> slice:
    """This rank's contiguous rows of a global batch of n (n must divide evenly: equal shares give the global mean)."""
    k = world()
    if n % k:
        raise ValueError(f"a global batch of {n} does not split over {k} ranks; choose a batch size divisible by {k}")
    return slice(rank() * n // k, (rank() + 1) * n // k)


def sum_all(values: list[float]) -> list[float]:
    """Element-wise sums over ranks (float64)."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_wire())
    dist.all_reduce(t)
    return t.tolist()


def average_gradients(model: torch.nn.Module) -> None:
    """Average every parameter's gradient over ranks (each rank's loss is the mean over its equal share)."""
    if not active():
        return
    k = world()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= k
