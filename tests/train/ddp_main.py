"""torchrun target for test_ddp.py: registers the test fakes, then runs ``python -m fgkd.train``'s main."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: train_fakes.py
import train_fakes  # noqa: E402  (registers fake:blobs and the test_tiny backbone)

train_fakes.register_counting_scorer()

from fgkd.train.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
