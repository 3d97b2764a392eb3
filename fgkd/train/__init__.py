"""The training loop only: one engine for every method (``engine.py``) and its DDP helpers (``ddp.py``).

    >>> from fgkd.methods import MakdConfig
    >>> from fgkd.runs import get_or_train
    >>> run = get_or_train(MakdConfig(dataset="world:bird", ...))

Methods (what to train) live in :mod:`fgkd.methods`; the run store in :mod:`fgkd.runs`.
"""

from fgkd.train.engine import Method, TrainResult, train

__all__ = ["Method", "TrainResult", "train"]
