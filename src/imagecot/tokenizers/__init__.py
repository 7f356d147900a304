"""Image tokenizers: single-scale VQ (and, later, VAR's multi-scale residual VQ)."""

from .vq import VQConfig, VQModel

__all__ = ["VQConfig", "VQModel"]
