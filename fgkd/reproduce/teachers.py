"""Teachers first: the embedded CLIP teachers the notebooks name, the students' embedded ImageNet
(``pretrained: "world"``) and the embedded MLLMs (``scorer_model: embedded-vlm-*``) are trained
before the notebooks, the most expensive first, one per process, so no notebook sits waiting on another's teacher lock;
their epochs show in the progress bar while they train."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from fgkd.experiments.common import EMBEDDED_IMAGENET
from fgkd.reproduce.manifest import experiment_module
from fgkd.reproduce.params import NotebookParams


@dataclass(frozen=True)
class _Kind:
    """How ``fgkd reproduce`` handles one kind of model trained before the notebooks."""

    config: Callable[[str, dict[str, Any]], Any]  # (name, options) -> the training config
    trained: Callable[[Any], bool]
    cost: Callable[[Any], float]  # on the CLIP teachers' scale (fgkd.teachers.embedded.training_cost)
    train: Callable[[Any], Any]
    progress: Callable[[Any], tuple[int, int] | None]
    label: str  # the kind, as the run record's time split names it


def _clip_kind() -> _Kind:
    from fgkd.teachers import embedded

    return _Kind(lambda name, options: embedded.embedded_config(name, **options),
                 lambda c: (embedded.teacher_folder(c) / "teacher.pt").is_file(), embedded.training_cost,
                 lambda c: embedded.train_embedded_teacher(c, progress=False), embedded.training_progress,
                 "embedded CLIP teachers")


def _imagenet_kind() -> _Kind:
    from fgkd.models import embedded_imagenet as pre

    return _Kind(lambda name, options: pre.embedded_imagenet_config(**options),
                 lambda c: pre.weights_path(c).is_file(), _imagenet_cost,
                 lambda c: pre.embedded_imagenet_weights(c, progress=False), pre.training_progress,
                 "embedded ImageNet")


def _vlm_kind() -> _Kind:
    from fgkd.teachers import embedded_vlm as vlm

    return _Kind(lambda name, options: vlm.embedded_vlm_config(name, **options), vlm.is_trained, _vlm_cost,
                 lambda c: vlm.embedded_vlm_folder(c, progress=False), vlm.training_progress,
                 "embedded MLLM")


def _kind(name: str) -> _Kind:
    from fgkd.teachers.embedded_vlm import is_embedded_vlm

    if name == EMBEDDED_IMAGENET:
        return _imagenet_kind()
    return _vlm_kind() if is_embedded_vlm(name) else _clip_kind()


def kind_label(name: str) -> str:
    """What kind of model ``name`` is, as the run record's time split names it."""
    return _kind(name).label


def teacher_jobs(notebooks: Iterable[NotebookParams]) -> list[tuple[str, dict[str, Any]]]:
    """The distinct embedded models the notebooks will train on first use (not trained yet): CLIP
    teachers, the students' embedded ImageNet and the embedded MLLMs, as ``(name, options)``, the
    most expensive first: each notebook's paper's ``embedded_teachers(params)`` on its
    :attr:`NotebookParams.effective` values (defaults, the set's recipe, its own file)."""
    found: dict[tuple[str, str], tuple[float, str, dict[str, Any]]] = {}
    for nb in notebooks:
        if nb.paper is None:
            continue
        for name, options in experiment_module(nb.paper).embedded_teachers(nb.effective):
            kind = _kind(name)
            config = kind.config(name, options)
            if not kind.trained(config):  # trained ones cost nothing
                found.setdefault((name, config.key), (kind.cost(config), name, options))
    return [(name, options) for _, name, options in sorted(found.values(), key=lambda t: -t[0])]


def _imagenet_cost(config: Any) -> float:
    """From measured times on one thread: the ResNet18 pre-training's 16 epochs took 404 s, the
    embedded-M teacher 345 s."""
    from fgkd.teachers.embedded import embedded_config, training_cost

    return training_cost(embedded_config("embedded-M")) * 404 / 345 * config.epochs / 16


def _vlm_cost(config: Any) -> float:
    """From measured times on one thread: embedded-vlm-S's 12 epochs took 2,257 s (188 s an epoch),
    the embedded-M teacher 345 s in all; the larger size's blocks cost ~3x as much (not measured)."""
    from fgkd.teachers.embedded import embedded_config, training_cost

    scale = 1.0 if config.size == "S" else 3.0
    return training_cost(embedded_config("embedded-M")) * 188 / 345 * config.epochs * scale


def train_teacher(job: tuple[str, dict[str, Any], int | None]) -> tuple[str, float, str]:
    """Train (or find cached) one embedded model: ``(name, seconds, error or "")``."""
    name, options, _threads = job  # training fixes its own threads (TRAIN_THREADS), whatever the job's
    start = time.perf_counter()
    try:
        kind = _kind(name)
        kind.train(kind.config(name, options))
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
        parts = []
        for name, options in self.teachers:
            kind = _kind(name)
            config = kind.config(name, options)
            if kind.trained(config):
                continue
            progress = kind.progress(config)
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
