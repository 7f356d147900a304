"""imagecot: image generation you can verify step by step."""

__version__ = "0.1.0"
