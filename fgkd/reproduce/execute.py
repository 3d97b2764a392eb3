"""The driver behind ``fgkd reproduce``: run every notebook with one params set, then index them.

For params set ``<set>`` and reports folder ``<reports>`` (default ``reports/``) it writes::

    <reports>/
      world_preview.png           the world's preview sheet (copied from the world_preview notebook)
      <set>/
        index.html                one row per table/figure: status, runtime, links, headline vs paper
        README.md                 the same rows in Markdown
        summary.json              the same, machine-readable (status, error, failing cell, headline)
        <notebook>.ipynb          the executed notebook (papermill output, with its injected params)
        <notebook>.html           its HTML export
        verdicts.json             every notebook's verdicts (report.write_verdicts), "notebook" added
        run_record.json           how it was made: commit, versions, machine, params, times, command
        <notebook>/               the notebook's output_dir: <name>.csv/.md tables, <name>.png
                                  figures, headline.json, verdicts.json, run_record.json (the set's
                                  record plus the notebook's params and runtime)

Steps: find the notebooks (:func:`fgkd.reproduce.manifest.discover_notebooks`: the manifest's order,
``--only`` names or glob patterns), load and validate ALL their params and the shared recipes
(:func:`fgkd.reproduce.params.prepare_params`: one ``ParamsError`` before any compute), execute each
with ``papermill.execute_notebook`` (kernel ``python3``, the caller's working directory as cwd so
relative paths in params mean the same as when they were validated; injected: the notebook's own
params, ``params_set`` and ``output_dir``), export it with nbconvert's ``HTMLExporter`` and write
the index (:mod:`fgkd.reproduce.index`). A failing notebook is recorded with its failing cell and
error and does not stop the others; ``--jobs N`` runs notebooks in N processes. Each notebook's
output folder is emptied first, so no stale file from an earlier run is indexed.

Scheduling (what makes a cold run short): the embedded CLIP teachers the notebooks need (each
notebook's paper's ``embedded_teachers(params)``, on the params already validated) are trained
first, the most expensive first, one per process, so no notebook sits waiting on another's
teacher lock; then the notebooks start longest first (the manifest's measured ``cold_seconds``),
so the long ones do not end up alone at the end.

Re-runs: a notebook whose inputs did not change since its last successful run (the notebook file,
its params, its set's shared recipe, the fgkd package's source and the kernel:
:func:`notebook_fingerprint`) is not executed again; its row, files and runtime are kept and marked
"unchanged". ``--force`` executes every notebook anyway (e.g. after upgrading torch, which the
fingerprint does not see).

At its end, for the shipped embedded set written into the repository's ``reports/``, it also
regenerates the status block of the repository's README.md (:mod:`fgkd.reproduce.record`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from fgkd.io import atomic_path, atomic_write_text
from fgkd.paths import ENV_PARAMS_SET
from fgkd.report import read_headline, read_verdicts
from fgkd.reproduce.index import PREVIEW_FIGURE, NotebookResult, ReproduceSummary, earlier_results, write_index
from fgkd.reproduce.manifest import Manifest, discover_notebooks, load_manifest, notebook_title
from fgkd.reproduce.teachers import TeacherWatcher, kind_label, train_teacher, teacher_jobs
from fgkd.reproduce.params import NotebookParams, prepare_params

TEMPLATES = Path(__file__).parent / "templates"  # nbconvert template "fgkd_lab" lives here
from fgkd.reproduce.record import run_record, status_block, status_readme, update_readme, write_run_records
from fgkd.reproduce.sets import DEFAULT_SET, ParamsSet, notebooks_root, resolve_params_set
from fgkd.secrets import looks_like_key, mask

PREVIEW_NOTEBOOK = "world_preview"
ARTEFACT_SUFFIXES = (".csv", ".md", ".png")
PACKAGE = Path(__file__).resolve().parents[1]  # the fgkd package folder
"""The fgkd package folder (its source is part of every fingerprint; its parent goes on the
kernel's PYTHONPATH)."""


@dataclass(frozen=True)
class ReproduceConfig:
    """What ``fgkd reproduce`` runs (one field per command-line option)."""

    params: str = DEFAULT_SET  # a params set name (embedded | paper | smoke) or a folder of the same shape
    only: tuple[str, ...] = ()  # notebook names or glob patterns (makd_*); empty = every notebook
    jobs: int = 1  # notebooks executed at once, each in its own process
    reports: Path = Path("reports")  # reports root; results go to <reports>/<params set name>/
    notebooks: Path | None = None  # folder of *.ipynb and their manifest.yaml; None = the repository's notebooks/
    kernel: str = "python3"  # Jupyter kernel that executes the notebooks
    progress: bool = True  # show a tqdm bar over notebooks
    force: bool = False  # execute notebooks whose inputs are unchanged since their last successful run
    command: str = ""  # the fgkd command line, for the run record (empty: this config's repr)
    overrides: tuple[tuple[str, Any], ...] = ()  # `-p key=value`: notebook params or recipe keys for this run

    def __post_init__(self) -> None:
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"ReproduceConfig.jobs must be an integer >= 1, got {self.jobs!r}")
        if isinstance(self.only, str):
            raise ValueError("ReproduceConfig.only must be a tuple of names/patterns, not one string")
        object.__setattr__(self, "only", tuple(self.only))
        object.__setattr__(self, "reports", Path(self.reports))
        if self.notebooks is not None:
            object.__setattr__(self, "notebooks", Path(self.notebooks))


# --- executing one notebook ---------------------------------------------------------------------


@contextmanager
def _kernel_environment(threads: int | None, params_set: str | None = None) -> Iterator[None]:
    """Make the kernel import the same fgkd as this process and, with --jobs, share the CPUs.

    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` only size the kernel's thread pools (N kernels on
    cores/N threads do not oversubscribe the machine); the numbers do not depend on them: every
    run computes with its config's ``threads`` and every shared cache with
    ``fgkd.determinism.SHARED_THREADS`` (:func:`fgkd.determinism.deterministic`). ``params_set``
    (``$FGKD_PARAMS_SET``) is recorded by the runs the kernel trains (``fgkd cache clean --params``)."""
    package_parent = str(PACKAGE.parent)
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", ENV_PARAMS_SET)}
    paths = [package_parent] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if threads is not None and saved["OMP_NUM_THREADS"] is None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if params_set:
        os.environ[ENV_PARAMS_SET] = params_set
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(traceback: Any) -> str:
    """The cell line an IPython traceback marks with ``---->`` (the line that raised), or ``""``."""
    lines = traceback if isinstance(traceback, (list, tuple)) else str(traceback or "").splitlines()
    marked = []
    for block in lines:
        for line in _ANSI.sub("", str(block)).splitlines():
            m = re.match(r"^\s*-+>\s*\d+\s(.*)$", line)
            if m:
                marked.append(m.group(1).strip())
    return marked[0] if marked else ""


def _mask_outputs(executed: Path) -> None:
    """Key-shaped text in the executed notebook's outputs (a traceback quoting a pasted key) is masked
    before the notebook and its HTML land in the reports."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    changed = False
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for field in ("text", "evalue"):
                if field in output and looks_like_key(str(output[field])):
                    output[field], changed = mask(str(output[field])), True
            if "traceback" in output and any(looks_like_key(t) for t in output["traceback"]):
                output["traceback"], changed = [mask(t) for t in output["traceback"]], True
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and looks_like_key(value):
                    output["data"][mime], changed = mask(value), True
    if changed:
        atomic_write_text(executed, nbformat.writes(nb))


def _export_html(executed: Path) -> Path:
    from nbconvert import HTMLExporter

    # JupyterLab's look, plus each figure's alternative text (fgkd.figures.enable_alt_text).
    exporter = HTMLExporter(template_name="fgkd_lab", extra_template_basedirs=[str(TEMPLATES)])
    body, _ = exporter.from_filename(str(executed))
    target = executed.with_suffix(".html")
    atomic_write_text(target, body)
    return target


def execute_notebook(
    notebook: str | os.PathLike, params: dict[str, Any], set_dir: str | os.PathLike,
    kernel: str = "python3", threads: int | None = None, title: str | None = None,
) -> NotebookResult:
    """Execute ``notebook`` with ``params`` (plus ``output_dir``) into ``set_dir`` and export it to HTML.

    ``params`` are injected as they are: for a notebook with a shared recipe pass
    :attr:`NotebookParams.injected` (its own params and ``params_set``). ``title``: the index
    row's (default: the notebook's first heading). Never raises for a failing notebook: the result
    says what failed (cell and error).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, set_dir = Path(notebook).resolve(), Path(set_dir).resolve()
    name = notebook.stem
    executed = set_dir / f"{name}.ipynb"
    output_dir = set_dir / name
    # Start clean: nothing from an earlier run may be indexed as this run's output.
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    for stale in (executed, executed.with_suffix(".html")):
        stale.unlink(missing_ok=True)
    parameters = {**params, "output_dir": str(output_dir)}

    error, failing_cell, failing_source = "", None, ""
    start = time.perf_counter()
    try:
        with _kernel_environment(threads, Path(set_dir).name):
            papermill.execute_notebook(
                str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                cwd=str(Path.cwd()), progress_bar=False, log_output=False,
                # The kernel's own log ("running over TCP without encryption" at start, "KeyboardInterrupt
                # caught" at shutdown) is noise on a local machine; a kernel that dies still fails the run.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        failing_cell = exc.cell_index
        failing_source = failing_line(exc.traceback) or next(
            (line for line in str(exc.source).splitlines() if line.strip()), "")
    except Exception as exc:  # a dead kernel or a notebook papermill cannot read: still one row, not a crash
        error = f"{type(exc).__name__}: {exc}"
    runtime = time.perf_counter() - start
    error, failing_source = mask(error), mask(failing_source)
    if executed.is_file():
        _mask_outputs(executed)

    html_path = None
    if executed.is_file():
        try:
            html_path = _export_html(executed)
        except Exception as exc:  # the run itself may be fine; say why there is no HTML
            error = (error + "; " if error else "") + f"HTML export failed: {type(exc).__name__}: {exc}"
    artefacts = sorted(str(p.relative_to(set_dir)) for p in output_dir.rglob("*")
                       if p.is_file() and p.suffix in ARTEFACT_SUFFIXES)
    try:
        headline = read_headline(output_dir)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        headline, error = None, (error + "; " if error else "") + f"unreadable headline.json: {exc}"
    try:
        verdicts = tuple(read_verdicts(output_dir))
    except ValueError as exc:  # names the file
        verdicts, error = (), (error + "; " if error else "") + f"unreadable verdicts: {exc}"
    failed = failing_cell is not None or not executed.is_file() or (
        bool(error) and not error.startswith("HTML export failed"))
    if title is None:
        try:
            title = notebook_title(notebook)
        except Exception:  # an unreadable notebook already failed above; its row still needs a title
            title = name
    return NotebookResult(
        name=name, title=title, status="failed" if failed else "ok",
        runtime_s=round(runtime, 2), notebook=executed.name,
        html=html_path.name if html_path else None, output_dir=name, artefacts=tuple(artefacts),
        error=error, failing_cell=failing_cell, failing_source=failing_source, headline=headline,
        verdicts=() if failed else verdicts,  # a failed notebook's verdicts are not collected
    )


Job = tuple[str, dict[str, Any], str, str, "int | None", "str | None"]


def _execute_job(job: Job) -> NotebookResult:
    return execute_notebook(*job)


def _crashed(job: Job, exc: BaseException) -> NotebookResult:
    name = Path(job[0]).stem
    return NotebookResult(name=name, title=job[5] or name, status="failed", runtime_s=0.0, notebook=f"{name}.ipynb",
                          html=None, output_dir=name, error=f"worker process died: {type(exc).__name__}: {exc}")


# --- unchanged notebooks are not executed again ------------------------------------------------


def package_digest() -> str:
    """Hash of the fgkd package's source files (code, configs, reference numbers)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".yaml", ".yml", ".json") and p.is_file()):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_fingerprint(notebook: Path, params: dict[str, Any], kernel: str, package: str | None = None,
                         recipe: Mapping[str, Any] | None = None) -> str:
    """What a notebook's result depends on that fgkd can see: the notebook file, its params, its
    set's shared recipe (``recipe``: the Recipe's values), the fgkd source (``package``:
    :func:`package_digest`) and the kernel name."""
    import hashlib

    from fgkd.io import stable_hash

    key = {"notebook": hashlib.sha256(Path(notebook).read_bytes()).hexdigest(), "params": params,
           "fgkd": package or package_digest(), "kernel": kernel}
    if recipe:
        key["recipe"] = dict(recipe)
    return stable_hash(key)


def _reusable(previous: NotebookResult | None, fingerprint: str, set_dir: Path) -> bool:
    """An earlier successful result of the same inputs whose files are all still there."""
    if previous is None or not previous.ok or previous.fingerprint != fingerprint:
        return False
    files = [previous.notebook, previous.html or "", *previous.artefacts]
    if previous.verdicts:
        files.append(f"{previous.output_dir}/verdicts.json")
    return all(name and (set_dir / name).is_file() for name in files)


# --- the whole run ------------------------------------------------------------------------------


def reproduce(config: ReproduceConfig) -> ReproduceSummary:
    """Validate every notebook's params and the shared recipes, execute the notebooks, write the
    index and the preview.

    Raises ``ParamsError`` (before running anything) for invalid params and ``ValueError`` for
    unknown notebooks or a manifest that disagrees with the folder; notebook failures are in the
    returned summary.
    """
    from tqdm.auto import tqdm

    started, clock = datetime.now(timezone.utc), time.perf_counter()
    pset = resolve_params_set(config.params)
    folder = config.notebooks if config.notebooks is not None else notebooks_root()
    notebooks = discover_notebooks(folder, config.only)
    manifest: Manifest = load_manifest(folder)
    prepared = prepare_params(pset, notebooks, overrides=dict(config.overrides))
    set_dir = (config.reports / pset.name).resolve()
    set_dir.mkdir(parents=True, exist_ok=True)

    package = package_digest()
    fingerprints = {nb.stem: notebook_fingerprint(nb, prepared[nb.stem].params, config.kernel, package,
                                                  recipe=prepared[nb.stem].recipe) for nb in notebooks}
    previous = {r.name: r for r in earlier_results(set_dir)}
    results: dict[str, NotebookResult] = {}
    for nb in notebooks:
        if not config.force and _reusable(previous.get(nb.stem), fingerprints[nb.stem], set_dir):
            earlier = previous[nb.stem]
            try:  # an unchanged notebook contributes its existing verdicts file
                verdicts = tuple(read_verdicts(set_dir / earlier.output_dir))
            except ValueError:  # damaged since: run it again
                continue
            results[nb.stem] = replace(earlier, earlier=False, reused=True, verdicts=verdicts)
    to_run = [nb for nb in notebooks if nb.stem not in results]

    threads = max(1, (os.cpu_count() or 1) // config.jobs) if config.jobs > 1 else None
    teachers = [(name, options, threads) for name, options in teacher_jobs(prepared[nb.stem] for nb in to_run)]
    jobs: list[Job] = [(str(nb), prepared[nb.stem].injected, str(set_dir), config.kernel, threads,
                        manifest[nb.stem].title) for nb in manifest.longest_first(to_run)]
    bar = tqdm(total=len(teachers) + len(jobs), desc=f"fgkd reproduce ({pset.name})", unit="step",
               disable=not config.progress)

    trained: list[dict[str, Any]] = []  # the teachers, for the run record's time split

    def record(result: NotebookResult | tuple[str, float, str]) -> None:
        bar.update(1)
        if isinstance(result, tuple):  # a teacher
            name, seconds, error = result
            trained.append({"name": name, "kind": kind_label(name), "seconds": round(seconds, 1),
                            "ready_s": round(time.perf_counter() - clock, 1), "error": error})
            bar.set_postfix_str(f"teacher {name}: {'failed' if error else 'ready'}")
            if error:
                # stderr: the notebooks that need it fail and say so too; this says why first.
                bar.write(f"FAILED teacher {name} after {seconds:.0f} s: {error}", file=sys.stderr)
            return
        result = replace(result, fingerprint=fingerprints[result.name])
        results[result.name] = result
        bar.set_postfix_str(f"{result.name}: {result.status}")
        if not result.ok:
            where = "" if result.failing_cell is None else f" in cell {result.failing_cell} ({result.failing_source!r})"
            bar.write(f"FAILED {result.name}{where}: {result.error}", file=sys.stderr)

    watcher = TeacherWatcher(teachers, bar)
    try:
        if config.jobs == 1 or len(jobs) + len(teachers) <= 1:
            for teacher in teachers:
                bar.set_postfix_str(f"teacher {teacher[0]}")
                record(train_teacher(teacher))
            for job in jobs:
                bar.set_postfix_str(f"running {Path(job[0]).stem}")
                record(_execute_job(job))
        else:
            # spawn, not fork: the driver may hold torch/threads that must not be forked. Workers
            # take jobs in submission order: the teachers first, then the notebooks longest first.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(config.jobs, len(jobs) + len(teachers)), mp_context=context) as pool:
                futures = {pool.submit(train_teacher, t): (t, None) for t in teachers}
                futures.update({pool.submit(_execute_job, job): (None, job) for job in jobs})
                for future in as_completed(futures):
                    teacher, job = futures[future]
                    try:
                        record(future.result())
                    except Exception as exc:  # the worker died (killed, out of memory): still one row
                        record((teacher[0], 0.0, f"worker process died: {exc}") if teacher else _crashed(job, exc))
    finally:
        watcher.stop()
        bar.close()

    ordered = tuple(results[nb.stem] for nb in notebooks)
    preview, preview_error = _write_preview(config.reports, set_dir, ordered)
    summary = ReproduceSummary(pset.name, set_dir, ordered, preview, preview_error)
    made = _write_run_record(config, pset, folder, set_dir, ordered, prepared, threads, package, started,
                             time.perf_counter() - clock, trained)
    index_html, readme = write_index(summary, pset, order=manifest.names, run_record=made)
    return replace(summary, index_html=index_html, readme=readme, status_readme=_update_status(config, pset))


def _write_run_record(config: ReproduceConfig, pset: ParamsSet, folder: Path, set_dir: Path,
                      results: tuple[NotebookResult, ...], prepared: Mapping[str, NotebookParams],
                      threads: int | None, package: str, started: datetime, wall_s: float,
                      teachers: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``<set>/run_record.json`` and each notebook's copy (its params and runtime added)."""
    from datetime import timedelta

    def status(r: NotebookResult) -> str:
        return "unchanged" if r.reused else r.status

    entries = [{"name": r.name, "status": status(r), "runtime_s": r.runtime_s, "reused": r.reused,
                "output_dir": r.output_dir, "params": prepared[r.name].injected if r.name in prepared else None}
               for r in results]
    record = run_record(pset, started=started, ended=started + timedelta(seconds=wall_s),
                        command=config.command or f"fgkd.reproduce.execute.reproduce({config!r})",
                        repository=folder, jobs=config.jobs, threads=threads, fgkd_source=package,
                        notebooks=[{k: e[k] for k in ("name", "status", "runtime_s")} for e in entries],
                        teachers=teachers)
    write_run_records(record, set_dir, entries)
    return record


def _update_status(config: ReproduceConfig, pset: ParamsSet) -> Path | None:
    """The repository README's status block, for the shipped embedded set in the repository's
    reports/ (a problem is reported, not raised: the reports themselves are written)."""
    readme = status_readme(pset, config.reports)
    if readme is None:
        return None
    try:
        update_readme(readme, status_block(config.reports, pset.name, relative_to=readme.parent))
    except (OSError, ValueError) as exc:
        print(f"fgkd reproduce: README status block not updated: {exc}", file=sys.stderr)
        return None
    return readme


def _write_preview(reports: Path, set_dir: Path, results: Iterable[NotebookResult]) -> tuple[Path | None, str]:
    """``<reports>/world_preview.png``: the world_preview notebook's figure when it ran, else (if the
    file is missing) rendered directly, so the README's promise holds after any reproduce."""
    target = reports.resolve() / PREVIEW_FIGURE
    ran = next((r for r in results if r.name == PREVIEW_NOTEBOOK and r.ok), None)
    figure = set_dir / PREVIEW_NOTEBOOK / PREVIEW_FIGURE
    if ran is not None:
        if not figure.is_file():
            return None, f"the {PREVIEW_NOTEBOOK} notebook ran but wrote no {PREVIEW_FIGURE}"
        with atomic_path(target) as tmp:
            shutil.copyfile(figure, tmp)
        return target, ""
    if target.is_file():
        return target, ""
    try:
        from fgkd.data.preview import render_preview

        render_preview(target)
    except Exception as exc:  # reported in the summary and the exit status, not a crash
        return None, f"could not render {target}: {type(exc).__name__}: {exc}"
    return target, ""
