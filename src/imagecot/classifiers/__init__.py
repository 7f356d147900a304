"""Image classifiers: the filter of classifier rejection sampling (and a sanity check of generated classes)."""

from .cnn import CNNClassifier, CNNClassifierConfig

__all__ = ["CNNClassifier", "CNNClassifierConfig"]
