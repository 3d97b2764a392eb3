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
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
            from fgkd.paths import storage_error

            written = tmp_path.stat().st_size if tmp_path.exists() else None
            translated = storage_error(exc, path, needed=written)
            if translated is None:
                raise
            raise translated from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


CHECKSUM_SUFFIX = ".sha256"


class DamagedFileError(RuntimeError):
    """A file fgkd wrote no longer reads back (truncated, bytes changed): the message names it and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path} is damaged ({problem}); {fix}")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: str | os.PathLike) -> Path:
    """``<file>.sha256`` beside ``path``: the SHA-256 the file had when fgkd wrote it."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` written atomically, with its SHA-256 beside it (checked by :func:`checked_torch_load`)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        digest = file_sha256(tmp)
    atomic_write_text(checksum_path(path), digest + "\n")


def checked_torch_load(path: str | os.PathLike, *, fix: str, **load_options: Any) -> Any:
    """``torch.load(path)`` after checking the file against its stored SHA-256 (files written
    before checksums existed are loaded as they are); a mismatch or a file torch cannot read is a
    :class:`DamagedFileError` naming the file and ``fix``."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    stored = checksum_path(path)
    if stored.exists():
        expected = stored.read_text().strip()
        if file_sha256(path) != expected:
            raise DamagedFileError(path, "its SHA-256 differs from the one stored when it was written", fix)
    try:
        return torch.load(path, **load_options)
    except (EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise DamagedFileError(path, f"torch cannot read it: {type(exc).__name__}: {str(exc)[:200]}", fix) from exc


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files :func:`atomic_path` left in ``folder`` when a process was
    killed mid-write (call it only while holding the folder's lock). Returns what was removed."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


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
