"""Where fgkd keeps what it computes.

Everything expensive (rendered world images, trained teachers, runs, teacher outputs, LLM replies)
lives under one cache root so a second use costs nothing and a user can wipe it in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "FGKD_CACHE_DIR"


def cache_root() -> Path:
    """The cache root: ``$FGKD_CACHE_DIR`` if set, else ``~/.cache/fgkd``."""
    root = os.environ.get(ENV_CACHE)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "fgkd"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(kind: str) -> Path:
    """A sub-folder of the cache root for one kind of artefact (``world``, ``teachers``, ``runs``...)."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
