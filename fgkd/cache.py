"""Looking after the cache (``fgkd cache list | verify | clean``).

The cache (``$FGKD_CACHE_DIR`` or ``~/.cache/fgkd``) grows to gigabytes: rendered worlds, trained
teachers, the embedded ImageNet backbones (``pretrain/``), runs (``runs/<method>/<hash>/``),
teacher outputs, aspect scores, LLM replies and t-SNE maps. This module lists what is there with
sizes and dates, checks every file that has a stored checksum (and every run's metrics), removes
the temporary files of killed writes, and removes runs by method or age. It never touches a run that another process holds the lock of.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from fgkd.io import CHECKSUM_SUFFIX, file_sha256
from fgkd.paths import cache_root, human_bytes

KINDS = ("world", "teachers", "pretrain", "runs", "teacher_outputs", "aspects", "llm", "tsne")
TEMP_MIN_AGE_S = 3600  # a temporary file younger than this may belong to a write in progress


@dataclass(frozen=True)
class Entry:
    """One cached thing: a run folder, a teacher folder, or a cache file."""

    kind: str
    path: Path
    size: int
    modified: float  # POSIX time of the newest file in it
    detail: str = ""

    @property
    def date(self) -> str:
        return dt.datetime.fromtimestamp(self.modified, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _size_and_mtime(path: Path) -> tuple[int, float]:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    if not files:
        return 0, path.stat().st_mtime
    stats = [p.stat() for p in files]
    return sum(s.st_size for s in stats), max(s.st_mtime for s in stats)


def _run_detail(folder: Path) -> str:
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        return f"done, top-1 {float(metrics['top1']):.2f}"
    except FileNotFoundError:
        return "checkpoint only (unfinished)" if (folder / "checkpoint.pt").exists() else "unfinished"
    except (ValueError, KeyError, TypeError):
        return "metrics.json damaged"


def inventory(root: Path | None = None) -> list[Entry]:
    """Everything in the cache: one entry per run, teacher, world and cache file."""
    root = cache_root() if root is None else root
    out = []
    for kind in KINDS:
        base = root / kind
        if not base.is_dir():
            continue
        if kind == "runs":
            items = [(f"runs/{m.name}", run) for m in sorted(base.iterdir()) if m.is_dir()
                     for run in sorted(m.iterdir()) if run.is_dir()]
        else:
            items = [(kind, p) for p in sorted(base.iterdir()) if not p.name.endswith(".lock")]
        for label, path in items:
            size, modified = _size_and_mtime(path)
            detail = _run_detail(path) if kind == "runs" else ""
            out.append(Entry(label, path, size, modified, detail))
    return out


def verify(root: Path | None = None) -> list[str]:
    """Problems found: files whose SHA-256 differs from the one stored when written, checksums whose
    file is gone, and finished runs whose metrics do not read back. Empty when all is well."""
    root = cache_root() if root is None else root
    problems = []
    for stored in sorted(root.rglob(f"*{CHECKSUM_SUFFIX}")):
        target = stored.with_name(stored.name[: -len(CHECKSUM_SUFFIX)])
        if not target.exists():
            continue  # written checksum first, file removed since (a finished checkpoint): harmless
        if file_sha256(target) != stored.read_text().strip():
            problems.append(f"{target}: damaged (its SHA-256 differs from the one stored when it was written); "
                            f"delete its folder {target.parent} to compute it again")
    for entry in inventory(root):
        if entry.kind.startswith("runs/") and entry.detail == "metrics.json damaged":
            problems.append(f"{entry.path}/metrics.json: damaged; the next use evaluates the run again from its "
                            "weights")
    return problems


def stale_temp_files(root: Path | None = None, min_age_s: float = TEMP_MIN_AGE_S) -> list[Path]:
    """Temporary files of killed writes (``.<name>.*.tmp``) older than ``min_age_s``."""
    root = cache_root() if root is None else root
    now = time.time()
    return [p for p in root.rglob(".*.tmp") if p.is_file() and now - p.stat().st_mtime >= min_age_s]


def _locked(run: Path) -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(str(run.parent / f"{run.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def trained_for(folder: Path) -> str | None:
    """The params set whose ``fgkd reproduce`` trained the run in ``folder`` (None: trained
    outside it, or not finished)."""
    try:
        value = json.loads((folder / "metrics.json").read_text()).get("trained_for")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def select_runs(entries: Iterable[Entry], *, method: str | None = None,
                older_than: dt.date | None = None, params_set: str | None = None) -> list[Entry]:
    """The run entries of ``method`` (None: every method) last written before ``older_than``
    and trained by ``fgkd reproduce --params <params_set>`` (None: whoever trained them)."""
    chosen = []
    for e in entries:
        if not e.kind.startswith("runs/"):
            continue
        if method is not None and e.kind != f"runs/{method}":
            continue
        if older_than is not None and dt.datetime.fromtimestamp(e.modified, dt.timezone.utc).date() >= older_than:
            continue
        if params_set is not None and trained_for(e.path) != params_set:
            continue
        chosen.append(e)
    return chosen


def remove(entries: Iterable[Entry]) -> tuple[list[Entry], list[Entry]]:
    """Delete the given run folders (skipping those another process is training); returns
    ``(removed, skipped)``."""
    removed, skipped = [], []
    for e in entries:
        if _locked(e.path):
            skipped.append(e)
            continue
        shutil.rmtree(e.path)
        removed.append(e)
    return removed, skipped


def format_inventory(entries: list[Entry]) -> str:
    """A table per kind: count, total size, and each entry with size, date and state."""
    lines = []
    by_kind: dict[str, list[Entry]] = {}
    for e in entries:
        by_kind.setdefault(e.kind, []).append(e)
    total = sum(e.size for e in entries)
    lines.append(f"{len(entries)} entries, {human_bytes(total)} in {cache_root()}")
    for kind, group in by_kind.items():
        lines.append(f"{kind}: {len(group)}, {human_bytes(sum(e.size for e in group))}")
        for e in group:
            lines.append(f"  {e.path.name:<48} {human_bytes(e.size):>9}  {e.date}  {e.detail}".rstrip())
    return "\n".join(lines)
