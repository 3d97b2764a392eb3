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
        <notebook>/               the notebook's output_dir: <name>.csv/.md tables, <name>.png
                                  figures, headline.json

Steps: find the notebooks (``--only`` names or glob patterns), load and validate ALL their params
(one :class:`fgkd.params.ParamsError` before any compute), execute each with
``papermill.execute_notebook`` (kernel ``python3``, the caller's working directory as cwd so
relative paths in params mean the same as when they were validated, ``output_dir`` injected), export
it with nbconvert's ``HTMLExporter`` and write the index. A failing notebook is recorded with its
failing cell and error and does not stop the others; ``--jobs N`` runs notebooks in N processes.
Each notebook's output folder is emptied first, so no stale file from an earlier run is indexed.

Scheduling (what makes a cold run short): the embedded CLIP teachers the notebooks name are trained
first, the most expensive first, one per process, so no notebook sits waiting on another's
teacher lock; then the notebooks start longest first (:data:`COLD_SECONDS`), so the long ones
do not end up alone at the end.

Re-runs: a notebook whose inputs did not change since its last successful run (the notebook file,
its params, the fgkd package's source and the kernel: :func:`notebook_fingerprint`) is not executed
again; its row, files and runtime are kept and marked "unchanged". ``--force`` executes every
notebook anyway (e.g. after upgrading torch, which the fingerprint does not see).
"""

from __future__ import annotations

import fnmatch
import html
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from fgkd.io import atomic_path, atomic_write_json, atomic_write_text
from fgkd.params import DEFAULT_SET, ParamsSet, check_params, find_repo_folder, resolve_params_set
from fgkd.report import Headline, read_headline

PREVIEW_NOTEBOOK = "world_preview"
PREVIEW_FIGURE = "world_preview.png"
ARTEFACT_SUFFIXES = (".csv", ".md", ".png")
# The index lists the world first, then each paper's tables and figures in the paper's order;
# notebooks not named here follow alphabetically.
NOTEBOOK_ORDER = (
    "world_preview",
    "lead_main", "lead_llm_choice", "lead_text_length", "lead_teacher_backbone", "lead_word_removal",
    "lead_vs_ssl", "lead_num_images", "lead_num_categories", "lead_tsne", "lead_entropy_examples",
    "lead_descriptions",
    "makd_main", "makd_ablations", "makd_aspect_counts", "makd_aspect_analysis", "makd_tsne",
    "makd_less_data", "makd_kd_extension", "makd_cost",
)

# Seconds of each notebook in a cold embedded reproduce, teachers trained before, as measured
# (2026-12-01, 2 CPU cores, --jobs 2, this order; a run several notebooks share is counted where it
# was trained). Only the order matters: longest first.
COLD_SECONDS = {
    "makd_main": 515, "lead_main": 247, "lead_vs_ssl": 201, "lead_word_removal": 174, "makd_ablations": 160,
    "lead_teacher_backbone": 89, "lead_text_length": 87, "lead_num_categories": 87, "makd_less_data": 69,
    "makd_aspect_counts": 68, "makd_kd_extension": 64, "lead_num_images": 62, "lead_llm_choice": 49,
    "lead_tsne": 31, "makd_tsne": 26, "makd_aspect_analysis": 13, "lead_entropy_examples": 13, "makd_cost": 10,
    "world_preview": 7, "lead_descriptions": 5,
}


@dataclass(frozen=True)
class ReproduceConfig:
    """What ``fgkd reproduce`` runs (one field per command-line option)."""

    params: str = DEFAULT_SET  # a params set name (embedded | paper | smoke) or a folder of <notebook>.yaml
    only: tuple[str, ...] = ()  # notebook names or glob patterns (makd_*); empty = every notebook
    jobs: int = 1  # notebooks executed at once, each in its own process
    reports: Path = Path("reports")  # reports root; results go to <reports>/<params set name>/
    notebooks: Path | None = None  # folder of *.ipynb; None = the repository's notebooks/
    kernel: str = "python3"  # Jupyter kernel that executes the notebooks
    progress: bool = True  # show a tqdm bar over notebooks
    force: bool = False  # execute notebooks whose inputs are unchanged since their last successful run

    def __post_init__(self) -> None:
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"ReproduceConfig.jobs must be an integer >= 1, got {self.jobs!r}")
        if isinstance(self.only, str):
            raise ValueError("ReproduceConfig.only must be a tuple of names/patterns, not one string")
        object.__setattr__(self, "only", tuple(self.only))
        object.__setattr__(self, "reports", Path(self.reports))
        if self.notebooks is not None:
            object.__setattr__(self, "notebooks", Path(self.notebooks))


@dataclass(frozen=True)
class NotebookResult:
    """How one notebook went. Paths are relative to the params set's report folder."""

    name: str
    title: str
    status: str  # "ok" | "failed"
    runtime_s: float
    notebook: str  # the executed .ipynb
    html: str | None  # its HTML export (None if the export failed)
    output_dir: str
    artefacts: tuple[str, ...] = ()  # tables (.csv, .md) and figures (.png) the notebook wrote
    error: str = ""  # "ValueError: bad value" (plus export problems)
    failing_cell: int | None = None  # index of the failing cell in the executed notebook
    failing_source: str = ""  # the failing cell's first line
    headline: Headline | None = None
    earlier: bool = False  # True: kept from an earlier reproduce (this one ran other notebooks)
    fingerprint: str = ""  # notebook_fingerprint() of the inputs this result came from
    reused: bool = False  # True: inputs unchanged since this result, so the notebook was not executed again

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class ReproduceSummary:
    """The outcome of one ``reproduce`` call."""

    params_set: str
    set_dir: Path
    results: tuple[NotebookResult, ...]
    preview: Path | None  # <reports>/world_preview.png once written
    preview_error: str = ""
    index_html: Path | None = None
    readme: Path | None = None

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.preview_error


# --- discovery ----------------------------------------------------------------------------------


def notebooks_root() -> Path:
    """The repository's ``notebooks/`` folder."""
    return find_repo_folder("notebooks")


def _order_key(path: Path) -> tuple[int, str]:
    name = path.stem
    return (NOTEBOOK_ORDER.index(name) if name in NOTEBOOK_ORDER else len(NOTEBOOK_ORDER), name)


def discover_notebooks(folder: str | os.PathLike | None = None, only: Sequence[str] = ()) -> list[Path]:
    """The ``*.ipynb`` of ``folder`` (default :func:`notebooks_root`) in report order, restricted to
    ``only`` (names, with or without ``.ipynb``, or glob patterns such as ``makd_*``).

    Raises ``ValueError`` for a name or pattern that matches nothing (with a suggestion).
    """
    import difflib

    folder = Path(folder) if folder is not None else notebooks_root()
    if not folder.is_dir():
        raise ValueError(f"Notebooks folder {folder} does not exist; pass --notebooks DIR or run from the "
                         "repository root")
    found = sorted((p for p in folder.glob("*.ipynb") if not p.name.startswith(".")), key=_order_key)
    if not found:
        raise ValueError(f"No *.ipynb notebooks in {folder}")
    if not only:
        return found
    names = [p.stem for p in found]
    chosen: set[str] = set()
    for pattern in only:
        pattern = pattern[: -len(".ipynb")] if pattern.endswith(".ipynb") else pattern
        matches = fnmatch.filter(names, pattern)
        if not matches:
            close = difflib.get_close_matches(pattern, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"--only {pattern!r} matches no notebook in {folder}{hint}; notebooks: {', '.join(names)}")
        chosen.update(matches)
    return [p for p in found if p.stem in chosen]


def notebook_title(path: str | os.PathLike) -> str:
    """The first Markdown heading of a notebook (its table/figure name), else its file name."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith("#"):
                return line.lstrip("# ").strip()
    return Path(path).stem


# --- executing one notebook ---------------------------------------------------------------------


@contextmanager
def _kernel_environment(threads: int | None) -> Iterator[None]:
    """Make the kernel import the same fgkd as this process and, with --jobs, share the CPUs."""
    package_parent = str(Path(__file__).resolve().parents[1])
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    paths = [package_parent] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if threads is not None and saved["OMP_NUM_THREADS"] is None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _export_html(executed: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(executed))
    target = executed.with_suffix(".html")
    atomic_write_text(target, body)
    return target


def execute_notebook(
    notebook: str | os.PathLike, params: dict[str, Any], set_dir: str | os.PathLike,
    kernel: str = "python3", threads: int | None = None,
) -> NotebookResult:
    """Execute ``notebook`` with ``params`` into ``set_dir`` and export it to HTML.

    Never raises for a failing notebook: the result says what failed (cell and error).
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
        with _kernel_environment(threads):
            papermill.execute_notebook(
                str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                cwd=str(Path.cwd()), progress_bar=False, log_output=False,
            )
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        failing_cell = exc.cell_index
        failing_source = next((line for line in str(exc.source).splitlines() if line.strip()), "")
    except Exception as exc:  # a dead kernel or a notebook papermill cannot read: still one row, not a crash
        error = f"{type(exc).__name__}: {exc}"
    runtime = time.perf_counter() - start

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
    failed = failing_cell is not None or not executed.is_file() or (
        bool(error) and not error.startswith("HTML export failed"))
    try:
        title = notebook_title(notebook)
    except Exception:  # an unreadable notebook already failed above; its row still needs a title
        title = name
    return NotebookResult(
        name=name, title=title, status="failed" if failed else "ok",
        runtime_s=round(runtime, 2), notebook=executed.name,
        html=html_path.name if html_path else None, output_dir=name, artefacts=tuple(artefacts),
        error=error, failing_cell=failing_cell, failing_source=failing_source, headline=headline,
    )


def _execute_job(job: tuple[str, dict[str, Any], str, str, int | None]) -> NotebookResult:
    return execute_notebook(*job)


def _crashed(job: tuple[str, dict[str, Any], str, str, int | None], exc: BaseException) -> NotebookResult:
    name = Path(job[0]).stem
    return NotebookResult(name=name, title=name, status="failed", runtime_s=0.0, notebook=f"{name}.ipynb",
                          html=None, output_dir=name, error=f"worker process died: {type(exc).__name__}: {exc}")


# --- unchanged notebooks are not executed again ------------------------------------------------


def package_digest() -> str:
    """Hash of the fgkd package's source files (code, configs, reference numbers)."""
    import hashlib

    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml", ".yml", ".json") and p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def notebook_fingerprint(notebook: Path, params: dict[str, Any], kernel: str, package: str | None = None) -> str:
    """What a notebook's result depends on that fgkd can see: the notebook file, its params, the
    fgkd source (``package``: :func:`package_digest`) and the kernel name."""
    import hashlib

    from fgkd.io import stable_hash

    return stable_hash({"notebook": hashlib.sha256(Path(notebook).read_bytes()).hexdigest(), "params": params,
                        "fgkd": package or package_digest(), "kernel": kernel})


def _reusable(previous: NotebookResult | None, fingerprint: str, set_dir: Path) -> bool:
    """An earlier successful result of the same inputs whose files are all still there."""
    if previous is None or not previous.ok or previous.fingerprint != fingerprint:
        return False
    files = [previous.notebook, previous.html or "", *previous.artefacts]
    return all(name and (set_dir / name).is_file() for name in files)


# --- teachers first ------------------------------------------------------------------------------


def teacher_jobs(notebooks: Sequence[Path], all_params: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The distinct embedded teachers the notebooks will train on first use (not trained yet), as
    ``(name, options)``, the most expensive first. Each notebook's parameters are its defaults updated by the params set."""
    from fgkd.experiments import lead, makd
    from fgkd.params import notebook_parameters
    from fgkd.teachers.embedded import embedded_config, teacher_folder, training_cost

    needs = {"lead_": lead.embedded_teachers, "makd_": makd.embedded_teachers}
    found: dict[str, tuple[float, str, dict[str, Any]]] = {}
    for nb in notebooks:
        finder = next((f for prefix, f in needs.items() if nb.stem.startswith(prefix)), None)
        if finder is None:
            continue
        params = {k: p.default for k, p in notebook_parameters(nb).items()}
        params.update(all_params.get(nb.stem, {}))
        for name, options in finder(params):
            config = embedded_config(name, **options)
            if not (teacher_folder(config) / "teacher.pt").is_file():  # trained ones cost nothing
                found.setdefault(config.key, (training_cost(config), name, options))
    return [(name, options) for _, name, options in sorted(found.values(), key=lambda t: -t[0])]


def _train_teacher(job: tuple[str, dict[str, Any], int | None]) -> tuple[str, float, str]:
    """Train (or find cached) one embedded teacher: ``(name, seconds, error or "")``."""
    name, options, threads = job
    start = time.perf_counter()
    try:
        import torch

        from fgkd.teachers.embedded import embedded_config, train_embedded_teacher

        if threads is not None:
            torch.set_num_threads(threads)
        train_embedded_teacher(embedded_config(name, **options), progress=False)
    except Exception as exc:  # the notebooks that need it will fail with their own message
        return name, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    return name, time.perf_counter() - start, ""


def longest_first(notebooks: Sequence[Path]) -> list[Path]:
    """Notebooks in execution order: by :data:`COLD_SECONDS`, longest first; unknown ones last, in
    report order."""
    return sorted(notebooks, key=lambda nb: (-COLD_SECONDS.get(nb.stem, 0), _order_key(nb)))


# --- the whole run ------------------------------------------------------------------------------


def reproduce(config: ReproduceConfig) -> ReproduceSummary:
    """Validate every notebook's params, execute the notebooks, write the index and the preview.

    Raises :class:`fgkd.params.ParamsError` (before running anything) for invalid params and
    ``ValueError`` for unknown notebooks; notebook failures are in the returned summary.
    """
    from tqdm.auto import tqdm

    pset = resolve_params_set(config.params)
    notebooks = discover_notebooks(config.notebooks, config.only)
    all_params = check_params(pset, notebooks)
    set_dir = (config.reports / pset.name).resolve()
    set_dir.mkdir(parents=True, exist_ok=True)

    package = package_digest()
    fingerprints = {nb.stem: notebook_fingerprint(nb, all_params[nb.stem], config.kernel, package) for nb in notebooks}
    previous = {r.name: r for r in earlier_results(set_dir)}
    results: dict[str, NotebookResult] = {}
    for nb in notebooks:
        if not config.force and _reusable(previous.get(nb.stem), fingerprints[nb.stem], set_dir):
            results[nb.stem] = replace(previous[nb.stem], earlier=False, reused=True)
    to_run = [nb for nb in notebooks if nb.stem not in results]

    threads = max(1, (os.cpu_count() or 1) // config.jobs) if config.jobs > 1 else None
    teachers = [(name, options, threads) for name, options in teacher_jobs(to_run, all_params)]
    jobs = [(str(nb), all_params[nb.stem], str(set_dir), config.kernel, threads) for nb in longest_first(to_run)]
    bar = tqdm(total=len(teachers) + len(jobs), desc=f"fgkd reproduce ({pset.name})", unit="step",
               disable=not config.progress)

    def record(result: NotebookResult | tuple[str, float, str]) -> None:
        bar.update(1)
        if isinstance(result, tuple):  # a teacher
            name, seconds, error = result
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
            bar.write(f"FAILED {result.name}{where}: {result.error}")

    try:
        if config.jobs == 1 or len(jobs) + len(teachers) <= 1:
            for teacher in teachers:
                bar.set_postfix_str(f"teacher {teacher[0]}")
                record(_train_teacher(teacher))
            for job in jobs:
                bar.set_postfix_str(f"running {Path(job[0]).stem}")
                record(_execute_job(job))
        else:
            # spawn, not fork: the driver may hold torch/threads that must not be forked. Workers
            # take jobs in submission order: the teachers first, then the notebooks longest first.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(config.jobs, len(jobs) + len(teachers)), mp_context=context) as pool:
                futures = {pool.submit(_train_teacher, t): (t, None) for t in teachers}
                futures.update({pool.submit(_execute_job, job): (None, job) for job in jobs})
                for future in as_completed(futures):
                    teacher, job = futures[future]
                    try:
                        record(future.result())
                    except Exception as exc:  # the worker died (killed, out of memory): still one row
                        record((teacher[0], 0.0, f"worker process died: {exc}") if teacher else _crashed(job, exc))
    finally:
        bar.close()

    ordered = tuple(results[nb.stem] for nb in notebooks)
    preview, preview_error = _write_preview(config.reports, set_dir, ordered)
    summary = ReproduceSummary(pset.name, set_dir, ordered, preview, preview_error)
    index_html, readme = write_index(summary, pset)
    return replace(summary, index_html=index_html, readme=readme)


def _write_preview(reports: Path, set_dir: Path, results: Sequence[NotebookResult]) -> tuple[Path | None, str]:
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


# --- index ----------------------------------------------------------------------------------------


def _links(result: NotebookResult) -> list[tuple[str, str]]:
    links = [("html", result.html)] if result.html else []
    links.append(("ipynb", result.notebook))
    links += [(Path(a).name, a) for a in result.artefacts]
    return links


def _status_text(result: NotebookResult) -> str:
    earlier = " (earlier run)" if result.earlier else " (unchanged, not re-run)" if result.reused else ""
    if result.ok:
        return "ok" + earlier
    where = f" in cell {result.failing_cell}" if result.failing_cell is not None else ""
    return f"FAILED{earlier}{where}: {result.error}"


def _headline_cells(result: NotebookResult) -> tuple[str, str]:
    h = result.headline
    if h is None:
        return "", ""
    kit = f"{h.kit_label}: {h.kit_text()}" if h.kit else ""
    paper = f"{h.paper_label}: {h.paper_text()}" if h.paper else ""
    return kit, paper


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def earlier_results(set_dir: Path, exclude: Sequence[str] = ()) -> list[NotebookResult]:
    """Rows of an earlier ``summary.json`` in ``set_dir`` whose executed notebook is still there,
    so ``--only`` runs add to the index instead of replacing it."""
    path = set_dir / "summary.json"
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["notebooks"]
        results = []
        for row in rows:
            if row["name"] in exclude or not (set_dir / row["notebook"]).is_file():
                continue
            headline = Headline(**row["headline"]) if row.get("headline") else None
            results.append(NotebookResult(**{**row, "headline": headline, "artefacts": tuple(row["artefacts"]),
                                             "earlier": True}))
        return results
    except (KeyError, TypeError, ValueError):  # an older or hand-edited file: start the index afresh
        return []


def write_index(summary: ReproduceSummary, params_set: ParamsSet) -> tuple[Path, Path]:
    """Write ``index.html``, ``README.md`` and ``summary.json`` into the set's report folder.

    Rows: this run's notebooks plus those an earlier run left (marked "earlier run").
    """
    set_dir = summary.set_dir
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(r.runtime_s for r in summary.results)
    n_failed = len(summary.failed)
    n_reused = sum(r.reused for r in summary.results)
    status_line = (f"{len(summary.results) - n_failed} of {len(summary.results)} notebooks ran; "
                   f"{n_failed} failed; {n_reused} unchanged and not re-run; {total:.1f} s of notebook time "
                   f"(as first measured); params set '{params_set.name}' "
                   f"({params_set.folder}); {stamp}.")
    kept = earlier_results(set_dir, exclude=[r.name for r in summary.results])
    rows_in_order = sorted([*summary.results, *kept], key=lambda r: _order_key(Path(r.name)))
    preview_rel = os.path.relpath(summary.preview, set_dir) if summary.preview else None

    # README.md
    lines = [f"# fgkd reports: params set `{params_set.name}`", "", status_line, ""]
    if preview_rel:
        lines += [f"World preview: [{PREVIEW_FIGURE}]({preview_rel})", ""]
    if summary.preview_error:
        lines += [f"World preview missing: {summary.preview_error}", ""]
    lines += ["| table / figure | status | runtime | files | fgkd | paper |", "|---|---|---|---|---|---|"]
    for r in rows_in_order:
        files = " · ".join(f"[{label}]({target})" for label, target in _links(r))
        kit, paper = _headline_cells(r)
        lines.append(f"| {_md(r.title)} (`{r.name}`) | {_md(_status_text(r))} | {r.runtime_s:.1f} s | "
                     f"{files} | {_md(kit)} | {_md(paper)} |")
    readme = set_dir / "README.md"
    atomic_write_text(readme, "\n".join(lines) + "\n")

    # index.html
    esc = html.escape
    rows = []
    for r in rows_in_order:
        files = " · ".join(f'<a href="{esc(t)}">{esc(label)}</a>' for label, t in _links(r))
        kit, paper = _headline_cells(r)
        css = "ok" if r.ok else "failed"
        detail = f"<br><code>{esc(r.failing_source)}</code>" if r.failing_source else ""
        rows.append(
            f'<tr class="{css}"><td>{esc(r.title)}<br><small>{esc(r.name)}</small></td>'
            f'<td class="status">{esc(_status_text(r))}{detail}</td><td>{r.runtime_s:.1f} s</td>'
            f"<td>{files}</td><td>{esc(kit)}</td><td>{esc(paper)}</td></tr>"
        )
    preview_html = f'<p><a href="{esc(preview_rel)}"><img src="{esc(preview_rel)}" alt="world preview" ' \
                   f'style="max-width:480px"></a></p>' if preview_rel else ""
    if summary.preview_error:
        preview_html += f"<p class=\"failed\">World preview missing: {esc(summary.preview_error)}</p>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fgkd reports: {esc(params_set.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }}
tr.failed td.status, p.failed {{ color: #b00020; }}
tr.ok td.status {{ color: #1b5e20; }}
</style></head><body>
<h1>fgkd reports: params set <code>{esc(params_set.name)}</code></h1>
<p>{esc(status_line)}</p>
{preview_html}
<table>
<tr><th>table / figure</th><th>status</th><th>runtime</th><th>files</th><th>fgkd</th><th>paper</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    index_html = set_dir / "index.html"
    atomic_write_text(index_html, page)

    def as_dict(r: NotebookResult) -> dict[str, Any]:
        d = asdict(r)
        d["headline"] = asdict(r.headline) if r.headline else None
        return d

    atomic_write_json(set_dir / "summary.json", {
        "params_set": params_set.name, "params_folder": str(params_set.folder), "written": stamp,
        "python": sys.executable, "preview": str(summary.preview) if summary.preview else None,
        "preview_error": summary.preview_error, "notebooks": [as_dict(r) for r in rows_in_order],
    })
    return index_html, readme
