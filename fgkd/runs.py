"""The run store: every trained run once, keyed by its config hash.

    run = get_or_train(LeadConfig(...))     # trains on first call; later calls only read
    run.metrics                             # {"top1": ..., "mAP": ..., "seconds_per_epoch": ...}
    run.model()                             # the trained module, eval mode
    run.arrays("test")                      # the method's evaluation arrays (features, logits...),
                                            # computed once per split and cached

The store builds each method with its dependencies handed in: the runs its config depends on
(``RunConfig.dependencies()``, e.g. MaKD's Table 6 KD teacher, trained first) and the objects
the method class asks for (``requirements(cfg, for_training)``: a CLIP teacher, an aspect scorer).
Methods never reach back into the store.

Layout: ``cache_dir("runs")/<method>/<config hash>/`` holding ``config.json`` (the resolved config),
``checkpoint.pt`` (while training; resumable), ``model.pt`` (final weights), ``meta.json`` (classes,
questions...), ``history.json`` (per-epoch loss terms and timings), ``features_<split>.npz`` and,
written last, ``metrics.json``: a run is finished exactly when that file exists.

Determinism: a run is trained, evaluated and extracted inside
``fgkd.determinism.deterministic(cfg.threads, device)`` (fixed CPU threads, deterministic
algorithms), so its bytes do not depend on the environment's thread settings, ``--jobs`` or the
machine's load; ``metrics.json`` records what was in force under ``"determinism"``.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from filelock import FileLock
from torch import nn

from fgkd.determinism import deterministic
from fgkd.io import (DamagedFileError, atomic_savez, atomic_torch_save, atomic_write_json, checked_torch_load,
                     checksum_path, remove_stale_temp_files)
from fgkd.paths import ENV_PARAMS_SET, cache_dir
from fgkd.methods import RunConfig, method_class
from fgkd.train import ddp
from fgkd.train.engine import CHECKPOINT, Method, resolve_device, train

Config = RunConfig


def build_method(cfg: Config, device: torch.device, *, for_training: bool, **given: Any) -> Method:
    """``cfg``'s method with every dependency resolved: ``given`` objects first, then the models of
    the runs ``cfg`` depends on (trained if missing), then what the method class asks the store to build."""
    cls = method_class(cfg)
    deps = dict(given)
    if for_training:
        for name, dep_cfg in cfg.dependencies().items():
            if name not in deps:
                deps[name] = get_or_train(dep_cfg).model(device)
    requirements = getattr(cls, "requirements", None)
    for name, build in (requirements(cfg, for_training) if requirements else {}).items():
        if name not in deps:
            deps[name] = build(device)
    return cls(cfg, **deps)


def run_dir(cfg: Config) -> Path:
    """``cache_dir("runs")/<method>/<config hash>``."""
    return cache_dir("runs") / cfg.method / cfg.config_hash()


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the run has not finished; call fgkd.runs.get_or_train(cfg)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DamagedFileError(path, f"not valid JSON: {exc}", "fgkd.runs.get_or_train(cfg) computes it again "
                               f"from the run's weights (or delete the run folder {path.parent} to retrain)") from exc


@dataclass(frozen=True)
class Run:
    """One run in the store (finished or not); cheap to create, reads lazily."""

    cfg: Config
    path: Path

    @classmethod
    def of(cls, cfg: Config) -> "Run":
        return cls(cfg, run_dir(cfg))

    @property
    def done(self) -> bool:
        """Finished: ``metrics.json`` exists and reads back as the metrics of a run."""
        try:
            return isinstance(self.metrics, dict) and "top1" in self.metrics
        except (FileNotFoundError, DamagedFileError):
            return False

    @property
    def evaluable(self) -> bool:
        """Trained but not (or no longer) evaluated: the weights, meta and history are there and
        intact, so the metrics can be computed again without training (nothing computed is lost)."""
        try:
            return (self.path / "model.pt").exists() and isinstance(self.meta, dict) and bool(self.history)
        except (FileNotFoundError, DamagedFileError):
            return False

    @property
    def metrics(self) -> dict[str, Any]:
        return _read_json(self.path / "metrics.json")

    @property
    def meta(self) -> dict[str, Any]:
        return _read_json(self.path / "meta.json")

    @property
    def history(self) -> list[dict[str, float]]:
        return _read_json(self.path / "history.json")

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained module in eval mode (MoCo/SimCLR/IBOT: ``.encode(x)`` gives features)."""
        module = method_class(self.cfg).model_from_meta(self.cfg, self.meta)
        state = checked_torch_load(self.path / "model.pt", map_location="cpu", weights_only=True,
                                   fix=f"delete the run folder {self.path} to train the run again")
        module.load_state_dict(state)
        return module.to(device).eval()

    def arrays(self, split: str, device: str | torch.device | None = None) -> dict[str, np.ndarray]:
        """The method's per-split arrays (``Method.extract``: features and labels for LEAD's family,
        class/aspect logits for MaKD), computed once and cached as ``features_<split>.npz``."""
        path = self.path / f"features_{split}.npz"
        cached = _read_arrays(path)
        if cached is not None:
            return cached
        device = resolve_device(self.cfg.device) if device is None else torch.device(device)
        with deterministic(self.cfg.threads, device):
            method = build_method(self.cfg, device, for_training=False)
            method.build(device, for_training=False)
            method.meta = self.meta
            method.module = self.model(method.device)
            return self._arrays_with(method)(split)

    def _arrays_with(self, method: Method) -> Callable[[str], dict[str, np.ndarray]]:
        def arrays(split: str) -> dict[str, np.ndarray]:
            path = self.path / f"features_{split}.npz"
            cached = _read_arrays(path)
            if cached is not None:
                return cached
            out = method.extract(split)
            atomic_savez(path, **out)
            return out

        return arrays


def get_or_train(cfg: Config, **method_options: Any) -> Run:
    """The finished run of ``cfg``: read from the store, or trained (resuming a checkpoint), evaluated
    and stored. Under torchrun every rank calls this; rank 0 writes, all ranks train.
    ``method_options``: dependencies to hand in instead of building them (e.g. a ``teacher``)."""
    run = Run.of(cfg)
    info = ddp.current()
    if ddp.broadcast_object(run.done):
        return run
    if info.world_size == 1:
        # Notebooks executed in parallel (`fgkd reproduce --jobs N`) share runs: the second process
        # to ask for a run waits for the first to finish it instead of training it again.
        run.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(run.path.parent / f"{run.path.name}.lock")):
            if run.done:
                return run
            if run.evaluable:  # trained, but killed while evaluating or its metrics.json is damaged
                return _evaluate_and_store(cfg, run)
            if getattr(cfg, "world_size", 1) > 1:  # a notebook asks for an N-process run: torchrun trains it
                return _train_under_torchrun(cfg, run, method_options)
            return _train_and_store(cfg, run, info, method_options)
    return _train_and_store(cfg, run, info, method_options)


# What torchrun starts in each process (tests point it at a script that registers their fakes first).
TORCHRUN_TARGET: list[str] = ["-m", "fgkd.train"]


def _train_under_torchrun(cfg: Config, run: Run, method_options: dict[str, Any]) -> Run:
    """Train an N-process run (``cfg.world_size``) from a single process: ``torchrun --standalone
    --nproc-per-node N -m fgkd.train --config <run>/config.json``, its output shown as it comes."""
    import subprocess
    import sys
    from collections import deque

    from fgkd.paths import ENV_CACHE, cache_root

    if method_options:
        raise ValueError(f"a world_size={cfg.world_size} run trains in torchrun processes, which cannot be handed "
                         f"objects ({sorted(method_options)}); let the run store build them from the config")
    run.path.mkdir(parents=True, exist_ok=True)
    config_file = run.path / "config.json"
    atomic_write_json(config_file, cfg.record())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={cfg.world_size}",
           *TORCHRUN_TARGET, "--config", str(config_file)]
    env = {**os.environ, ENV_CACHE: str(cache_root())}
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            tail.append(line)
            print(line, end="", flush=True)
    if proc.returncode != 0 or not run.done:
        raise RuntimeError(f"torchrun with {cfg.world_size} processes did not finish run {run.path.name} "
                           f"(exit {proc.returncode}); its last output:\n{''.join(tail)}")
    return run


def best_epoch_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """``top1_best``, ``top5_best`` (at that epoch) and ``best_epoch`` from a history whose entries
    carry ``test_top1`` (MaKD's ``track_test``: what the authors' trainer reports); else none."""
    tracked = [(h["test_top1"], h.get("test_top5", float("nan")), i + 1) for i, h in enumerate(history)
               if "test_top1" in h]
    if not tracked:
        return {}
    top1, top5, epoch = max(tracked, key=lambda t: (t[0], -t[2]))  # the first epoch reaching the best
    return {"top1_best": top1, "top5_best": top5, "best_epoch": float(epoch)}


def _read_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent; a damaged file is removed (it is recomputed from the
    run's intact weights)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"{path} is damaged ({type(exc).__name__}); computing it again from the run's weights")
        path.unlink(missing_ok=True)
        return None


def _evaluate_and_store(cfg: Config, run: Run) -> Run:
    """Evaluate a trained run again from its weights (its metrics were lost or damaged)."""
    device = resolve_device(cfg.device)
    with deterministic(cfg.threads, device) as determinism:
        method = build_method(cfg, device, for_training=False)
        method.build(device, for_training=False)
        method.meta = run.meta
        method.module = run.model(device)
        metrics = method.evaluate(run._arrays_with(method))
        history = run.history
        seconds = [h["seconds"] for h in history]
        metrics.update(epochs=len(history), train_seconds=float(sum(seconds)), seconds_per_epoch=float(np.mean(seconds)),
                       final_loss=history[-1]["loss"], world_size=1, re_evaluated=True, determinism=determinism)
        atomic_write_json(run.path / "metrics.json", metrics)
    return run


def _train_and_store(cfg: Config, run: Run, info: Any, method_options: dict[str, Any]) -> Run:
    if info.is_main:
        run.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(run.path)  # half-written files of a killed process (we hold the lock)
        atomic_write_json(run.path / "config.json", cfg.record())
    ddp.barrier()
    device = resolve_device(cfg.device)
    # Fixed threads and deterministic algorithms for everything that makes the run's numbers: its
    # dependencies build inside (a teacher, a scorer, a KD teacher run), each in its own block.
    with deterministic(cfg.threads, device) as determinism:
        method = build_method(cfg, device, for_training=True, **method_options)
        result = train(method, run.path)
        if info.is_main:
            atomic_torch_save(method.module.state_dict(), run.path / "model.pt")
            atomic_write_json(run.path / "meta.json", method.meta)
            atomic_write_json(run.path / "history.json", result.history)
            metrics = method.evaluate(run._arrays_with(method))
            seconds = [h["seconds"] for h in result.history]
            metrics.update(
                epochs=len(result.history),
                train_seconds=float(sum(seconds)),
                seconds_per_epoch=float(np.mean(seconds)),
                images_per_second=result.images_per_second,
                final_loss=result.history[-1]["loss"],
                world_size=info.world_size,
                rank_digests=result.rank_digests,
                determinism=determinism,
                trained_for=os.environ.get(ENV_PARAMS_SET) or None,  # `fgkd cache clean --params`
                **best_epoch_metrics(result.history),
            )
            atomic_write_json(run.path / "metrics.json", metrics)  # last: marks the run finished
            (run.path / CHECKPOINT).unlink(missing_ok=True)  # model.pt holds the weights now
            checksum_path(run.path / CHECKPOINT).unlink(missing_ok=True)
    ddp.barrier()
    return run
