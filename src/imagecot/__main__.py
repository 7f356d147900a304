"""`python -m imagecot ...`, and under torchrun: `torchrun --nproc_per_node K -m imagecot ...`."""

import sys

from .cli import main

sys.exit(main())
