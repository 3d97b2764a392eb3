"""How a report was made, and the README's status block generated from a set's reports.

``fgkd reproduce`` writes ``reports/<set>/run_record.json`` (:func:`run_record`) and a copy, plus the
notebook's own params and runtime, into each ``reports/<set>/<notebook>/run_record.json``
(:func:`write_run_records`). A run record holds:

- ``git``: the commit of the repository the notebooks came from and whether its tree had
  uncommitted changes (``git status --porcelain``), or why there is none (no git, no repository);
- ``versions``: fgkd, torch, torchvision, open_clip_torch, transformers, numpy ("not installed"
  when absent) and Python;
- ``machine``: CPU model, logical cores, the notebook jobs and the threads per job reproduce used,
  the GPUs torch sees (none: ``[]``);
- ``params``: the set's name and folder, its shared recipes (``lead.yaml``, ``makd.yaml`` as
  :func:`fgkd.reproduce.sets.recipe_values` reads them) and the seeds they name;
- ``started``, ``ended`` (UTC, ISO 8601), ``wall_s`` and ``command`` (the fgkd command line);
- ``notebooks``: this run's notebooks with their status (ok, failed, unchanged: not re-run).

The README's status block lies between :data:`STATUS_BEGIN` and :data:`STATUS_END`;
:func:`status_block` writes it from ``reports/<set>/verdicts.json`` and ``run_record.json`` and
:func:`update_readme` puts it in place (``fgkd status``; ``fgkd reproduce`` of the shipped
embedded set into the repository's ``reports/`` does it at its end).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from fgkd.io import atomic_write_json, atomic_write_text
from fgkd.report import VERDICTS_FILE, counts_text, read_verdicts, verdicts_markdown
from fgkd.reproduce.sets import DEFAULT_SET, PAPER_NAMES, PAPERS, ParamsError, ParamsSet, recipe_values

RUN_RECORD_FILE = "run_record.json"
PACKAGES = ("fgkd", "torch", "torchvision", "open_clip_torch", "transformers", "numpy")
NOT_INSTALLED = "not installed"
REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository holding this fgkd source (its README.md carries the status block)."""
STATUS_BEGIN = "<!-- status:begin -->"
STATUS_END = "<!-- status:end -->"
MAX_CHANGED = 50  # changed paths listed in the record (their count is always complete)


# --- the parts of a run record --------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path, git: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}  # read-only: no index refresh lock
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, timeout=30, env=env)


def git_state(folder: str | os.PathLike, git: str = "git") -> dict[str, Any]:
    """The commit of the git repository holding ``folder`` and whether its tree has uncommitted
    changes; when git or the repository is absent, ``commit`` and ``dirty`` are None and
    ``problem`` says why (never raises)."""
    folder = Path(folder).resolve()
    state: dict[str, Any] = {"folder": str(folder), "repository": None, "commit": None, "dirty": None,
                             "changed": [], "n_changed": 0, "problem": ""}
    if shutil.which(git) is None:
        state["problem"] = "git is not installed"
        return state
    if not folder.is_dir():
        state["problem"] = f"{folder} does not exist"
        return state
    try:
        top = _git(["rev-parse", "--show-toplevel"], folder, git)
        if top.returncode != 0:
            state["problem"] = f"{folder} is not in a git repository ({top.stderr.strip() or 'git rev-parse failed'})"
            return state
        root = Path(top.stdout.strip())
        state["repository"] = str(root)
        head = _git(["rev-parse", "HEAD"], root, git)
        if head.returncode != 0:
            state["problem"] = f"{root} has no commit yet"
        else:
            state["commit"] = head.stdout.strip()
        status = _git(["status", "--porcelain"], root, git)
        if status.returncode != 0:
            state["problem"] = (state["problem"] + "; " if state["problem"] else "") + \
                f"git status failed: {status.stderr.strip()}"
            return state
    except (OSError, subprocess.SubprocessError) as error:
        state["problem"] = f"git could not be run: {type(error).__name__}: {error}"
        return state
    changed = [line for line in status.stdout.splitlines() if line.strip()]
    state.update(dirty=bool(changed), changed=changed[:MAX_CHANGED], n_changed=len(changed))
    return state


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """``{distribution: version}`` from importlib.metadata, "not installed" when absent."""
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``), or "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpu_names() -> list[str]:
    """The CUDA devices torch sees (``[]``: none, or torch not installed)."""
    from importlib.util import find_spec

    if find_spec("torch") is None:
        return []
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver is "no GPU" for the record, not a failed reproduce
        return []


def machine(jobs: int = 1, threads: int | None = None) -> dict[str, Any]:
    """The machine: CPU model, logical cores, ``jobs`` notebooks at once with ``threads`` threads
    each (None: reproduce did not limit them; ``omp_num_threads`` is what the environment set)."""
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "jobs": jobs, "threads_per_job": threads,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "gpus": gpu_names(),
            "platform": platform.platform()}


def _seed_list(value: Any) -> list[int] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
        return [int(p) for p in parts] if parts and all(p.lstrip("-").isdigit() for p in parts) else None
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def recipe_seeds(recipe: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The seeds a recipe names: its ``seeds`` key when present, else its ``seed``, as
    ``{"key", "value" (as written), "seeds" (a list of ints, None if not readable as one)}``."""
    if not recipe:
        return None
    key = next((k for k in ("seeds", "seed") if k in recipe), None)
    if key is None:
        return None
    return {"key": key, "value": recipe[key], "seeds": _seed_list(recipe[key])}


def params_record(pset: ParamsSet) -> dict[str, Any]:
    """The params set: name, folder, each paper's shared recipe (None when its file is missing or
    unreadable; ``problems`` says why) and the seeds each recipe names."""
    recipes: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for paper in PAPERS:
        try:
            recipes[paper] = recipe_values(pset, paper)
        except ParamsError as error:
            recipes[paper] = None
            problems[paper] = str(error)
    return {"name": pset.name, "folder": str(pset.folder), "recipes": recipes,
            "seeds": {paper: recipe_seeds(recipe) for paper, recipe in recipes.items()}, "problems": problems}


def run_record(pset: ParamsSet, *, started: datetime, ended: datetime, command: str, repository: str | os.PathLike,
               jobs: int = 1, threads: int | None = None, notebooks: Sequence[Mapping[str, Any]] = (),
               fgkd_source: str | None = None, teachers: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Everything a reader needs to know how a set's reports were made (see the module docstring).

    ``repository``: a folder of the repository the notebooks came from (its notebooks folder);
    ``started``/``ended``: timezone-aware datetimes of the reproduce; ``notebooks``: this run's
    ``{"name", "status", "runtime_s"}``; ``fgkd_source``: the fgkd source digest of the fingerprints;
    ``teachers``: the models trained before the notebooks, ``{"name", "kind", "seconds", "ready_s",
    "error"}`` (``ready_s``: since the start), summed up in ``time_split`` (:func:`time_split`).
    """
    wall_s = (ended - started).total_seconds()
    return {
        "command": command, "started": started.isoformat(timespec="seconds"),
        "ended": ended.isoformat(timespec="seconds"), "wall_s": round(wall_s, 1),
        "git": git_state(repository), "versions": {**package_versions(), "python": platform.python_version()},
        "python_executable": sys.executable, "fgkd_source_sha256": fgkd_source,
        "machine": machine(jobs, threads), "params": params_record(pset), "notebooks": [dict(n) for n in notebooks],
        "teachers": [dict(t) for t in teachers], "time_split": time_split(teachers, notebooks, wall_s),
    }


def time_split(teachers: Sequence[Mapping[str, Any]], notebooks: Sequence[Mapping[str, Any]],
               wall_s: float) -> dict[str, Any]:
    """Where a reproduce's time went: the wall-clock span of the teacher phase (until the last model
    trained before the notebooks was ready) and of the rest, and the seconds each kind of model
    (embedded CLIP teachers, embedded ImageNet, embedded MLLM) and the notebooks took in their own
    processes (with ``--jobs N`` these overlap, so they add up to more than the wall clock)."""
    ready = max((float(t.get("ready_s") or 0.0) for t in teachers), default=0.0)
    by_kind: dict[str, float] = {}
    for t in teachers:
        kind = str(t.get("kind", "model"))
        by_kind[kind] = round(by_kind.get(kind, 0.0) + float(t.get("seconds") or 0.0), 1)
    return {"wall_s": round(wall_s, 1), "teacher_phase_wall_s": round(ready, 1),
            "after_teachers_wall_s": round(max(0.0, wall_s - ready), 1), "models_s": by_kind,
            "notebooks_s": round(sum(float(n.get("runtime_s") or 0.0) for n in notebooks), 1)}


def write_run_records(record: Mapping[str, Any], set_dir: str | os.PathLike,
                      notebooks: Sequence[Mapping[str, Any]] = ()) -> Path:
    """``<set_dir>/run_record.json`` and, for each of ``notebooks`` (``{"name", "output_dir",
    "params", "runtime_s", "status", "reused"}``), ``<set_dir>/<output_dir>/run_record.json``: the
    record plus that notebook's entry. A notebook kept unchanged keeps the record of the run that
    made it, when there is one."""
    set_dir = Path(set_dir)
    path = set_dir / RUN_RECORD_FILE
    atomic_write_json(path, dict(record))
    for nb in notebooks:
        target = set_dir / str(nb.get("output_dir") or nb["name"]) / RUN_RECORD_FILE
        if nb.get("reused") and target.is_file():
            continue
        atomic_write_json(target, {**record, "notebook": dict(nb)})
    return path


def read_run_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The run record in ``folder`` (a set's or a notebook's report folder); None when absent.
    A damaged file is a ``ValueError`` naming its path."""
    path = Path(folder) / RUN_RECORD_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path} is damaged: {error}; `fgkd reproduce` writes it again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged: it holds a {type(data).__name__}, not a run record")
    return data


# --- reading a run record ----------------------------------------------------------------------


def _when(text: str | None) -> str:
    try:
        return datetime.fromisoformat(str(text)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return str(text or "?")


def source_text(git: Mapping[str, Any] | None, with_repository: bool = True) -> str:
    """``"commit 009a009d12ab of /repo, with 3 uncommitted changes"`` or why there is no commit."""
    git = git or {}
    if not git.get("commit"):
        return f"no commit recorded: {git.get('problem') or 'no git information'}"
    dirty = git.get("dirty")
    state = (f", with {git.get('n_changed', 0)} uncommitted change{'s' * (git.get('n_changed') != 1)}" if dirty
             else ", no uncommitted changes" if dirty is False else ", working tree state unknown")
    where = f" of {git.get('repository')}" if with_repository else ""
    return f"commit {str(git['commit'])[:12]}{where}{state}"


def describe(record: Mapping[str, Any]) -> list[str]:
    """The run record as a few plain sentences (the index's "How this was made")."""
    versions = record.get("versions", {})
    mach = record.get("machine", {})
    params = record.get("params", {})
    threads = mach.get("threads_per_job")
    threads_text = (f"{threads} thread{'s' * (threads != 1)} each" if threads else
                    f"threads not limited by reproduce (OMP_NUM_THREADS={mach.get('omp_num_threads') or 'unset'})")
    seeds = []
    for paper, entry in (params.get("seeds") or {}).items():
        if entry:
            value = entry.get("seeds") if entry.get("seeds") is not None else entry.get("value")
            seeds.append(f"{PAPER_NAMES.get(paper, paper)} {entry.get('key')} "
                         f"{', '.join(map(str, value)) if isinstance(value, list) else value}")
    lines = [
        f"Command: {record.get('command', '?')}; from {_when(record.get('started'))} to "
        f"{_when(record.get('ended'))} ({record.get('wall_s', '?')} s wall).",
        f"Source: {source_text(record.get('git'))}.",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()) + ".",
        f"Machine: {mach.get('cpu', '?')}, {mach.get('logical_cores', '?')} logical cores; "
        f"{mach.get('jobs', '?')} notebook job(s) at once, {threads_text}; "
        f"GPU: {', '.join(mach.get('gpus') or []) or 'none'}.",
        f"Params set {params.get('name', '?')} ({params.get('folder', '?')}); "
        f"seeds: {'; '.join(seeds) or 'none named by the shared recipes'}.",
    ]
    split = record.get("time_split") or {}
    if split.get("models_s"):  # models were trained before the notebooks
        models = ", ".join(f"{kind} {seconds:.0f} s" for kind, seconds in split["models_s"].items())
        lines.append(f"Time: models trained first for {split['teacher_phase_wall_s']:.0f} s wall ({models}, "
                     f"in their own processes), then the notebooks for {split['after_teachers_wall_s']:.0f} s wall "
                     f"({split['notebooks_s']:.0f} s of notebook processes).")
    return lines


# --- the README's status block -------------------------------------------------------------------


def _shown(path: Path, relative_to: Path | None) -> str:
    base = (relative_to or Path.cwd()).resolve()
    try:
        return Path(os.path.relpath(path.resolve(), base)).as_posix() if path.resolve().is_relative_to(base) \
            else str(path.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def placeholder_block(set_name: str = DEFAULT_SET) -> str:
    """The block before any reproduce: no report yet, and how to make one."""
    return (f"**Status: what the {set_name} scale shows.** No report exists yet: `fgkd reproduce --params "
            f"{set_name}` (`make reproduce` for the embedded set) runs every notebook into `reports/{set_name}/` "
            f"and writes this block from its `verdicts.json`; `fgkd status --params {set_name} --readme README.md` "
            "writes it again from the last reports.")


def status_block(reports: str | os.PathLike, set_name: str, relative_to: str | os.PathLike | None = None) -> str:
    """The status text of ``<reports>/<set_name>/``: when and from which commit, the counts of
    holds / contradicted / inconclusive, then one row per claim. Paths are shown relative to
    ``relative_to`` (the README's folder; default the working directory).

    Raises ``FileNotFoundError`` naming ``verdicts.json`` and the command that makes it.
    """
    folder = Path(reports) / set_name
    path = folder / VERDICTS_FILE
    base = Path(relative_to) if relative_to is not None else None
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: make it with `fgkd reproduce --params {set_name} "
                                f"--reports {reports}` (it collects every notebook's verdicts)")
    records = read_verdicts(path)
    run = read_run_record(folder)
    if run is None:
        made = f"no {RUN_RECORD_FILE} beside it, so date and commit are unknown"
    else:
        made = f"reproduce of {str(run.get('ended', '?'))[:10]}, {source_text(run.get('git'), with_repository=False)}"
    lines = [f"**Status: what the {set_name} scale shows** (generated by `fgkd status --params {set_name}` from "
             f"`{_shown(path, base)}`; {made}). Each claim's measured quantity is positive in the paper's "
             "direction; a claim holds when its 95 % interval over seeds lies above 0, is contradicted when it "
             "lies below 0, and is inconclusive otherwise (also with a single seed).", "",
             f"**{counts_text(records)}.**", ""]
    if records:
        lines.append(verdicts_markdown(records).rstrip("\n"))
    failed = [n["name"] for n in (run or {}).get("notebooks", []) if n.get("status") == "failed"]
    if failed:
        lines += ["", f"Failed, so without verdicts: {', '.join(f'`{n}`' for n in failed)}."]
    return "\n".join(lines)


def replace_block(text: str, block: str, where: str = "README.md") -> str:
    """``text`` with what lies between :data:`STATUS_BEGIN` and :data:`STATUS_END` replaced by
    ``block`` (markers kept, the rest untouched). ``ValueError`` naming ``where`` unless each marker
    is there once, begin first."""
    begins, ends = text.count(STATUS_BEGIN), text.count(STATUS_END)
    start, end = text.find(STATUS_BEGIN), text.find(STATUS_END)
    if begins != 1 or ends != 1 or end < start:
        raise ValueError(f"{where} needs the status markers once each, {STATUS_BEGIN} before {STATUS_END} "
                         f"(found {begins} and {ends}); put them where the generated status goes")
    return text[: start + len(STATUS_BEGIN)] + "\n" + block.strip("\n") + "\n" + text[end:]


def update_readme(readme: str | os.PathLike, block: str) -> bool:
    """Put ``block`` between the status markers of ``readme``; True when the file changed."""
    readme = Path(readme)
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} does not exist; pass the README holding the {STATUS_BEGIN} and "
                                f"{STATUS_END} markers")
    text = readme.read_text(encoding="utf-8")
    new = replace_block(text, block, str(readme))
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True


def status_readme(pset: ParamsSet, reports: str | os.PathLike) -> Path | None:
    """The repository's README.md when ``fgkd reproduce`` should refresh its status block: the
    shipped embedded set, written into the repository's ``reports/``; else None."""
    readme = REPO_ROOT / "README.md"
    if pset.name != DEFAULT_SET or pset.ref != DEFAULT_SET or not readme.is_file():
        return None
    if Path(reports).resolve() != (REPO_ROOT / "reports").resolve():
        return None
    return readme
