"""Run a generator's network in bfloat16 on the CPU, for throughput where bit-exact float32 samples are not needed."""

from __future__ import annotations

import functools
import sys

import torch


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (avx512_bf16 or AMX, as oneDNN reports it). Without it, bf16
    matmuls are emulated: on an AVX2 EPYC a 2048^2 matmul took 53 s against float32's 0.1 s, and a bf16 training
    step ran 28x slower than float32. A build without oneDNN answers True (nothing to tell)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


@functools.cache
def warn_if_cpu_lacks_bf16() -> bool:
    """Warn once (stderr) where bfloat16 on this CPU is emulated; returns whether it is native."""
    native = cpu_has_native_bf16()
    if not native:
        print(f"warning: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bfloat16, so bfloat16 "
              "runs far slower than float32 here (a training step 28x slower on an AVX2 CPU); drop --amp-bf16 / "
              "--bf16 on this machine", file=sys.stderr)
    return native


def bf16_autocast(model: torch.nn.Module) -> None:
    """Run this module's forward under CPU bfloat16 autocast (this instance only); a tensor output comes back
    float32, so sampling (softmax, top-k, confidences) runs in float32. Samples differ slightly from float32's
    (MaskGIT ~1.9x faster on CPUs with avx512_bf16; far slower on CPUs without native bfloat16, which warns)."""
    warn_if_cpu_lacks_bf16()
    forward = model.forward

    def autocast_forward(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return out.float() if isinstance(out, torch.Tensor) else out
    model.forward = autocast_forward


if __name__ == "__main__":   # `python -m imagecot.generators.autocast`: true/false, for the Makefile's AMP_BF16
    print(str(cpu_has_native_bf16()).lower())
