"""Verifiers: learned judges of images and of partial generations, and the evaluator as an oracle upper bound."""

from .base import OutcomeVerifier, PARMVerifier, ProcessVerifier
from .oracle import OracleVerifier

__all__ = ["OracleVerifier", "OutcomeVerifier", "PARMVerifier", "ProcessVerifier"]
