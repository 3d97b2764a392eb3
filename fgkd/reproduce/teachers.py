"""Teachers first: the embedded CLIP teachers the notebooks name (and the students' embedded ImageNet,
``pretrained: "world"``) are trained before the notebooks,
the most expensive first, one per process, so no notebook sits waiting on another's teacher lock;
their epochs show in the progress bar while they train."""

from __future__ import annotations

import time
from typing import Any, Iterable

from fgkd.experiments.common import EMBEDDED_IMAGENET
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
    from fgkd.models.embedded_imagenet import weights_path
    from fgkd.teachers.embedded import embedded_config, teacher_folder, training_cost

    found: dict[str, tuple[float, str, dict[str, Any]]] = {}
    for nb in notebooks:
        for name, options in experiment_module(nb.paper).embedded_teachers(nb.effective):
            if name == EMBEDDED_IMAGENET:
                pre = _imagenet_config(options)
                if not weights_path(pre).is_file():
                    found.setdefault(pre.key, (_imagenet_cost(pre), name, options))
                continue
            config = embedded_config(name, **options)
            if not (teacher_folder(config) / "teacher.pt").is_file():  # trained ones cost nothing
                found.setdefault(config.key, (training_cost(config), name, options))
    return [(name, options) for _, name, options in sorted(found.values(), key=lambda t: -t[0])]


def _imagenet_config(options: dict[str, Any]) -> Any:
    from fgkd.models.embedded_imagenet import embedded_imagenet_config

    return embedded_imagenet_config(**options)


def _imagenet_cost(config: Any) -> float:
    """On the scale of :func:`fgkd.teachers.embedded.training_cost`, from measured times on one
    thread: the ResNet18 pre-training's 16 epochs took 404 s, the embedded-M teacher 345 s."""
    from fgkd.teachers.embedded import embedded_config, training_cost

    return training_cost(embedded_config("embedded-M")) * 404 / 345 * config.epochs / 16


def train_teacher(job: tuple[str, dict[str, Any], int | None]) -> tuple[str, float, str]:
    """Train (or find cached) one embedded teacher: ``(name, seconds, error or "")``."""
    name, options, _threads = job  # training fixes its own threads (embedded.TRAIN_THREADS), whatever the job's
    start = time.perf_counter()
    try:
        if name == EMBEDDED_IMAGENET:
            from fgkd.models.embedded_imagenet import embedded_imagenet_weights

            embedded_imagenet_weights(_imagenet_config(options), progress=False)
        else:
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
            if name == EMBEDDED_IMAGENET:
                from fgkd.models import embedded_imagenet

                pre = _imagenet_config(options)
                if not embedded_imagenet.weights_path(pre).exists():
                    done = embedded_imagenet.training_progress(pre)
                    parts.append(f"{name} epoch {done[0]}/{done[1]}" if done else f"{name} starting")
                continue
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
