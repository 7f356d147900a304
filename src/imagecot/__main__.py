"""`python -m imagecot ...`, and under torchrun: `torchrun --nproc_per_node K -m imagecot ...`."""

from .cli import run

run()
