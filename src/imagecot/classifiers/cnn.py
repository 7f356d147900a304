"""A small residual CNN classifier for 32x32 images in [-1, 1] (the Fashion-MNIST track's filter)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..hub import PretrainedMixin


@dataclass
class CNNClassifierConfig:
    num_classes: int = 10
    channels: tuple[int, ...] = (32, 64, 128)   # one stage per entry; every stage after the first halves the size
    dropout: float = 0.1
    class_names: tuple[str, ...] = ()
    data: str = "fashion-mnist"


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class CNNClassifier(nn.Module, PretrainedMixin):
    config_class = CNNClassifierConfig
    model_type = "cnn_classifier"

    def __init__(self, config: CNNClassifierConfig):
        super().__init__()
        self.config = c = config
        cin = c.channels[0]
        layers = [nn.Conv2d(3, cin, 3, 1, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU()]
        for i, ch in enumerate(c.channels):
            layers += [_ResBlock(cin, ch, 1 if i == 0 else 2), _ResBlock(ch, ch, 1)]
            cin = ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(cin, c.num_classes)

    def forward(self, x_B3HW: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of images in [-1, 1]."""
        return self.fc(self.dropout(self.features(x_B3HW).mean((2, 3))))
