"""Atomic writes and checked reads.

A killed process must never leave a half-written checkpoint or cache behind: every write goes to a
temporary file in the same folder and is moved into place with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The file gets the mode a plain ``open()`` would give it (0666 less the umask), not
    ``mkstemp``'s 0600, so a shared cache or a reports folder stays readable by colleagues.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_savez(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` written atomically (the target keeps its ``.npz`` name)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def cached_tsne_map(name: str, key: dict[str, Any], features: np.ndarray, compute) -> np.ndarray:
    """``compute()`` (a 2-D t-SNE map of ``features``), kept under ``cache_dir("tsne")`` by its
    ``key`` and the features' content: t-SNE is the slowest step of a warm re-run of a figure."""
    from fgkd.paths import cache_dir

    digest = hashlib.sha256(np.ascontiguousarray(features)).hexdigest()
    path = cache_dir("tsne") / f"{name}-{stable_hash({**key, 'features': digest})}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["xy"]
    xy = compute()
    atomic_savez(path, xy=xy)
    return xy


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hash of a JSON-serialisable object, stable across processes and runs."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
