"""Where fgkd keeps what it computes.

Everything expensive (rendered world images, trained teachers, runs, teacher outputs, LLM replies)
lives under one cache root so a second use costs nothing and a user can wipe it in one place.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

ENV_CACHE = "FGKD_CACHE_DIR"
ENV_PARAMS_SET = "FGKD_PARAMS_SET"  # set by `fgkd reproduce` for its kernels: runs record what trained them


class StorageError(OSError):
    """The disk is full or a folder is not writable: the message names the folder, the free space and the fix."""


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def free_bytes(folder: str | os.PathLike) -> int:
    """Free bytes on the disk holding ``folder`` (its nearest existing parent)."""
    path = Path(folder).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def storage_error(exc: BaseException, path: str | os.PathLike, needed: int | None = None) -> StorageError | None:
    """A :class:`StorageError` saying what to do for a full disk or a read-only folder, else None."""
    folder = Path(path).parent
    number = getattr(exc, "errno", None)
    full = number == errno.ENOSPC or "unexpected pos" in str(exc) or "No space left" in str(exc)
    if full:
        need = f", at least {human_bytes(needed)} needed for {Path(path).name}" if needed else ""
        return StorageError(errno.ENOSPC, f"no space left in {folder} ({human_bytes(free_bytes(folder))} free{need}); "
                            f"free some space, or set {ENV_CACHE} to a folder on a larger disk")
    if number in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(number, f"the folder {folder} is not writable ({os.strerror(number)}); set {ENV_CACHE} "
                            "to a writable folder (fgkd writes its cache there)")
    return None


def check_cache_writable() -> Path:
    """The cache root, after checking a file can be written there (a clear error if not)."""
    import tempfile

    root = cache_root()
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".fgkd-write-check-"):
            pass
    except OSError as exc:
        raise storage_error(exc, root / "x") or exc
    return root


def cache_root() -> Path:
    """The cache root: ``$FGKD_CACHE_DIR`` if set, else ``~/.cache/fgkd``."""
    root = os.environ.get(ENV_CACHE)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "fgkd"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, path / "x") or exc
    return path


def cache_dir(kind: str) -> Path:
    """A sub-folder of the cache root for one kind of artefact (``world``, ``teachers``, ``runs``...)."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
