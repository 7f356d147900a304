"""Test-time search over generators: rejection sampling (and, with verifiers, best-of-N and PARM)."""
