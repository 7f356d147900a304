"""Image tokenizers: single-scale VQ (AR, MaskGIT) and VAR's multi-scale residual VQ."""

from .msvq import MSVQConfig, MSVQModel
from .vq import VQConfig, VQModel

__all__ = ["MSVQConfig", "MSVQModel", "VQConfig", "VQModel"]
