"""Deterministic computation: the same bytes whatever the environment's thread settings.

Float addition is not associative, and torch's CPU kernels split their work by the number of
intra-op threads: MKL's matrix products, oneDNN's convolutions (their weight gradients are summed
per thread) and ATen's parallel reductions add in an order that depends on it. The same run trained
with ``OMP_NUM_THREADS=1`` and ``=2`` therefore ends with different weights, and a few probe
predictions flip. fgkd fixes the thread count of every computation whose numbers reach a table::

    with deterministic(threads=1, device="cpu") as record:
        ...                      # train, evaluate, extract
    record                       # what was in force: {"threads": 1, "interop_threads": 1, ...}

Inside the block:

- torch's intra-op threads are ``threads`` (``torch.set_num_threads``; it also sets MKL's and
  OpenMP's), and so are the native pools torch does not control, numpy's OpenBLAS and
  scikit-learn's OpenMP runtime (through threadpoolctl, which scikit-learn installs);
- torch's inter-op threads are ``threads`` when torch still allows it: they can be set only once
  per process, before any parallel work; the record says what is in force (they only run
  ``torch.jit.fork`` tasks, which fgkd does not use, so they do not change fgkd's numbers);
- ``torch.use_deterministic_algorithms(True)``: ops with a deterministic alternative use it, the
  others raise. On CPU every op fgkd trains with has one (the MoCo/LEAD/SimCLR/iBOT students, the
  MaKD classifiers, the embedded CLIP teachers: ``tests/test_determinism.py``). On CUDA a few
  backward kernels have none, among them ``AdaptiveAvgPool2d``'s (the global pool of every
  backbone; with a 1 x 1 output each input receives one gradient, so its atomic adds are exact in
  practice) and ``NLLLoss``: on CUDA the mode is therefore ``warn_only`` by default, so those ops
  warn instead of stopping a run;
- ``torch.backends.cudnn.deterministic = True`` and ``benchmark = False``;
- on CUDA, ``CUBLAS_WORKSPACE_CONFIG`` (``:4096:8``) is required by deterministic cuBLAS; cuBLAS
  reads it when CUDA initialises, so ``import fgkd`` sets it if it is absent
  (:func:`ensure_cublas_workspace`), before any CUDA work of a program that imports fgkd first.

Every setting is restored on exit (inter-op threads excepted: torch cannot change them back), so
blocks nest: a run's block (its config's ``threads``) may train a teacher inside, whose own block
(:data:`SHARED_THREADS`) holds only while the teacher trains.

What this does not make identical: numbers across machine kinds (another CPU's vector width, a GPU,
another MKL or torch version sum in another order). The record holds the torch version and the
device so a run says what it was computed with.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import torch

CUBLAS_WORKSPACE_CONFIG = ":4096:8"
"""cuBLAS workspace for deterministic GEMMs (``:16:8`` works too, with less memory and speed)."""

SHARED_THREADS = 1
"""Threads of computations whose results several runs share (embedded teacher training, teacher
outputs, scorer P(yes) caches): fixed, so a shared cache holds the same bytes whichever run, job
or thread environment filled it."""


def ensure_cublas_workspace() -> str:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` to :data:`CUBLAS_WORKSPACE_CONFIG` if it is absent; return
    the value in force. ``import fgkd`` calls this; it must run before CUDA initialises."""
    return os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)


def _as_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_of(obj: Any) -> torch.device:
    """Where a teacher, scorer or module computes: its ``device``, its teacher's, or its first
    parameter's; CPU when none is found."""
    for candidate in (obj, getattr(obj, "teacher", None), getattr(obj, "model", None)):
        device = getattr(candidate, "device", None)
        if isinstance(device, (str, torch.device)):
            return torch.device(device)
        if isinstance(candidate, torch.nn.Module):
            for p in candidate.parameters():
                return p.device
    return torch.device("cpu")


def _library_limits(threads: int) -> Any:
    """threadpoolctl's limit of the native thread pools outside torch's control (numpy's and SciPy's
    OpenBLAS, scikit-learn's OpenMP runtime) to ``threads``; None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency of scikit-learn, which fgkd requires; tolerate its absence
        return None
    with warnings.catch_warnings():  # it warns when several OpenMP runtimes are loaded: not our concern here
        warnings.simplefilter("ignore")
        return threadpool_limits(limits=threads)


def _interop_threads(threads: int) -> int:
    """Try to set torch's inter-op threads; the number in force afterwards."""
    if torch.get_num_interop_threads() != threads:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # set once already, or parallel work has started: keep what is in force
            pass
    return torch.get_num_interop_threads()


def current_settings(device: str | torch.device | None = "cpu") -> dict[str, Any]:
    """What is in force now: threads, the deterministic flags, the torch version and the device."""
    dev = _as_device(device)
    record: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "torch": str(torch.__version__),  # a str subclass that torch.load(weights_only=True) refuses
        "device": str(dev),
    }
    if dev.type == "cuda":
        record["cuda"] = str(torch.version.cuda)
        record["cublas_workspace_config"] = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
        if torch.cuda.is_available():
            record["gpu"] = torch.cuda.get_device_name(dev)
    return record


@contextmanager
def deterministic(threads: int = 1, device: str | torch.device | None = "cpu", *,
                  warn_only: bool | None = None) -> Iterator[dict[str, Any]]:
    """Fixed threads and deterministic algorithms for the block; yields what was in force.

    Args:
        threads: torch's intra-op threads (and numpy's BLAS / other OpenMP threads) in the block, >= 1.
        device: where the block computes (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``):
            recorded; on CUDA also the cuBLAS workspace and the default of ``warn_only``.
        warn_only: ops without a deterministic implementation warn instead of raising; default
            False on CPU, True on CUDA (see the module docstring).

    The yielded dict (``threads``, ``interop_threads``, ``deterministic_algorithms``,
    ``warn_only``, ``cudnn_deterministic``, ``cudnn_benchmark``, ``torch``, ``device``,
    ``library_threads`` (numpy's BLAS and other OpenMP pools; None without threadpoolctl); on CUDA
    also ``cuda``, ``cublas_workspace_config``, ``gpu``) is JSON-able: runs store it in their
    ``metrics.json``.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"deterministic: threads must be an int >= 1, got {threads!r}")
    dev = _as_device(device)
    if warn_only is None:
        warn_only = dev.type == "cuda"
    if dev.type == "cuda" and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        if torch.cuda.is_initialized():
            warnings.warn("CUBLAS_WORKSPACE_CONFIG was not set when CUDA initialised: cuBLAS may not be "
                          f"deterministic; set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE_CONFIG} in the "
                          "environment (or import fgkd before any CUDA work)", stacklevel=3)
        ensure_cublas_workspace()
    saved_threads = torch.get_num_threads()
    saved_flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    libraries = _library_limits(threads)
    try:
        torch.set_num_threads(threads)
        _interop_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        yield {**current_settings(dev), "library_threads": threads if libraries is not None else None}
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
        torch.use_deterministic_algorithms(saved_flags[0], warn_only=saved_flags[1])
        if libraries is not None:
            libraries.restore_original_limits()
        torch.set_num_threads(saved_threads)  # last: torch's own count is the one in force
