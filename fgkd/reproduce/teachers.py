"""Teachers first: the embedded CLIP teachers the notebooks name are trained before the notebooks,
the most expensive first, one per process, so no notebook sits waiting on another's teacher lock;
their epochs show in the progress bar while they train."""

from __future__ import annotations

import time
from typing import Any, Iterable

from fgkd.reproduce.manifest import experiment_module
from fgkd.reproduce.params import NotebookParams


def teacher_jobs(notebooks: Iterable[NotebookParams]) -> list[tuple[str, dict[str, Any]]]:
    """The distinct embedded teachers the notebooks will train on first use (not trained yet), as
    ``(name, options)``, the most expensive first: each notebook's paper's
    ``embedded_teachers(params)`` on its :attr:`NotebookParams.effective` values (defaults, the
    set's recipe, its own file)."""
    notebooks = [nb for nb in notebooks if nb.paper is not None]
    if not notebooks:
        return []
    from fgkd.teachers.embedded import embedded_config, teacher_folder, training_cost

    found: dict[str, tuple[float, str, dict[str, Any]]] = {}
    for nb in notebooks:
        for name, options in experiment_module(nb.paper).embedded_teachers(nb.effective):
            config = embedded_config(name, **options)
            if not (teacher_folder(config) / "teacher.pt").is_file():  # trained ones cost nothing
                found.setdefault(config.key, (training_cost(config), name, options))
    return [(name, options) for _, name, options in sorted(found.values(), key=lambda t: -t[0])]


def train_teacher(job: tuple[str, dict[str, Any], int | None]) -> tuple[str, float, str]:
    """Train (or find cached) one embedded teacher: ``(name, seconds, error or "")``."""
    name, options, _threads = job  # training fixes its own threads (embedded.TRAIN_THREADS), whatever the job's
    start = time.perf_counter()
    try:
        from fgkd.teachers.embedded import embedded_config, train_embedded_teacher

        train_embedded_teacher(embedded_config(name, **options), progress=False)
    except Exception as exc:  # the notebooks that need it will fail with their own message
        return name, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    return name, time.perf_counter() - start, ""


class TeacherWatcher:
    """Shows each embedded teacher's epochs in the progress bar while the teachers train (they run
    first, for minutes, before any notebook step completes), polled from their progress files."""

    def __init__(self, teachers: Iterable[tuple[str, dict[str, Any], Any]], bar: Any, every: float = 5.0) -> None:
        import threading

        self.teachers = [(name, options) for name, options, *_ in teachers]
        self.bar = bar
        self.done = threading.Event()
        self.thread = None
        if self.teachers:
            self.thread = threading.Thread(target=self._run, args=(every,), daemon=True)
            self.thread.start()

    def status(self) -> str:
        from fgkd.teachers.embedded import embedded_config, teacher_folder, training_progress

        parts = []
        for name, options in self.teachers:
            config = embedded_config(name, **options)
            if (teacher_folder(config) / "teacher.pt").exists():
                continue
            progress = training_progress(config)
            parts.append(f"{name} epoch {progress[0]}/{progress[1]}" if progress else f"{name} starting")
        return ("training teachers: " + ", ".join(parts)) if parts else ""

    def _run(self, every: float) -> None:
        while not self.done.wait(every):
            try:
                text = self.status()
            except Exception:  # a progress display must never break the run
                continue
            if not text:
                return
            self.bar.set_postfix_str(text)

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=1)
