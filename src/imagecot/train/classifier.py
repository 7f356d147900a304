"""Train the CNN classifier on a labelled dataset (random shifts and flips), then measure it on the test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..classifiers.cnn import CNNClassifier, CNNClassifierConfig
from ..data.images import to_tensor
from ..data.streams import make_stream
from ..io_utils import atomic_write_json
from .loop import TrainConfig, train


def _augment(x_B3HW: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 px (edge padding), per image."""
    B = x_B3HW.shape[0]
    flip = torch.rand(B, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x_B3HW.flip(3), x_B3HW)
    pad = F.pad(x, (2, 2, 2, 2), mode="replicate")
    dy, dx = torch.randint(0, 5, (2, B), generator=gen)
    H, W = x.shape[2:]
    return torch.stack([pad[i, :, dy[i]:dy[i] + H, dx[i]:dx[i] + W] for i in range(B)])


@torch.no_grad()
def accuracy(model: CNNClassifier, images_BHW3: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(labels), batch_size):
        logits = model(to_tensor(images_BHW3[i:i + batch_size]))
        correct += (logits.argmax(1).numpy() == labels[i:i + batch_size]).sum()
    return float(correct / len(labels))


def train_classifier(run_dir: str | Path, model_cfg: CNNClassifierConfig, cfg: TrainConfig,
                     data_root: str | Path | None = None) -> CNNClassifier:
    stream = make_stream(model_cfg.data, cfg.seed, 32, data_root)

    def loss_fn(model, step: int) -> dict:
        batch, rows = stream.batch(step, cfg.batch_size), distributed.local_rows(cfg.batch_size)
        x = _augment(to_tensor(batch.images_BHW3), torch.Generator().manual_seed(cfg.seed * 1_000_003 + step))[rows]
        dev = next(model.parameters()).device
        x, y = x.to(dev), torch.as_tensor(batch.labels_B)[rows].to(dev)
        logits = model(x)
        return {"loss": F.cross_entropy(logits.float(), y), "acc": (logits.argmax(1) == y).float().mean().detach()}

    torch.manual_seed(cfg.seed)
    model = train(CNNClassifier(model_cfg), loss_fn, run_dir, cfg)
    from ..data.fashion_mnist import load_fashion_mnist
    test_x, test_y = load_fashion_mnist("test", data_root)
    acc = accuracy(model, test_x, test_y)
    atomic_write_json(Path(run_dir) / "final" / "eval.json", {"test_accuracy": acc, "test_images": len(test_y)})
    print(f"test accuracy {acc:.4f} on {len(test_y)} images")
    return model
