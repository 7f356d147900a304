"""Training data by name: the shapes world (text prompts) or Fashion-MNIST (class labels)."""

from __future__ import annotations

from pathlib import Path

DATASETS = ("shapes", "fashion-mnist")


def make_stream(data: str = "shapes", seed: int = 0, resolution: int = 32, root: str | Path | None = None):
    """A stream with `.batch(step, batch_size)` giving `.specs` (each with a "prompt") and `.images_BHW3`."""
    if data == "shapes":
        from .shapes import ShapesStream
        return ShapesStream(seed=seed, resolution=resolution)
    if data == "fashion-mnist":
        from .fashion_mnist import RESOLUTION, FashionMNISTStream
        if resolution != RESOLUTION:
            raise ValueError(f"Fashion-MNIST is {RESOLUTION}x{RESOLUTION} here (28x28 padded); "
                             f"the model wants {resolution}")
        return FashionMNISTStream(seed=seed, root=root)
    raise ValueError(f"unknown dataset {data!r}; expected one of {', '.join(DATASETS)}")


def background_of(data: str) -> tuple[int, int, int]:
    """The empty canvas of a dataset (the blank image previews start from)."""
    if data == "fashion-mnist":
        from .fashion_mnist import BACKGROUND
        return BACKGROUND
    if data == "shapes":
        from ..world.vocab import BACKGROUND
        return BACKGROUND
    if data == "imagenet":   # natural images have no empty canvas: previews start from mid-grey
        return (128, 128, 128)
    raise ValueError(f"unknown dataset {data!r}; expected one of {', '.join(DATASETS)}")


def class_names_of(data: str) -> tuple[str, ...]:
    """The class names of a labelled dataset; () for the shapes world (text prompts)."""
    if data == "fashion-mnist":
        from .fashion_mnist import CLASSES
        return CLASSES
    if data == "shapes":
        return ()
    raise ValueError(f"unknown dataset {data!r}; expected one of {', '.join(DATASETS)}")
