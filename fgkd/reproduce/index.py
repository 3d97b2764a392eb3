"""The reports' index: ``index.html``, ``README.md`` and ``summary.json`` of one params set, and
the set's ``verdicts.json`` (every notebook's verdicts, ``"notebook"`` added, in index order).

At the top, the counts of holds / contradicted / inconclusive over all claims; then each notebook's
verdicts (claim, status, mean difference with its 95 % interval, seeds; a failed notebook is listed
as having none); then one row per notebook (its manifest title, status with the failing cell and error, runtime, links
to the executed notebook, its HTML and its tables and figures, and its headline numbers beside
the paper's), in the manifest's order. Rows an earlier ``fgkd reproduce`` left (``--only`` runs)
are kept and marked; last, "How this was made" from the run record
(:mod:`fgkd.reproduce.record`). The page is ``templates/index.html`` (package data) filled with
:class:`string.Template`.
"""

from __future__ import annotations

import html
import json
import shutil
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Sequence

from fgkd.io import atomic_path, atomic_write_json, atomic_write_text
from fgkd.report import (MISSING, VERDICTS_FILE, Headline, counts_text, verdict_cells, verdict_counts,
                         verdict_record)
from fgkd.reproduce.record import RUN_RECORD_FILE, describe
from fgkd.reproduce.sets import ParamsSet

PREVIEW_FIGURE = "world_preview.png"
TEMPLATE = "templates/index.html"


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
    verdicts: tuple[dict[str, Any], ...] = ()  # the records of its verdicts.json (none when it failed)

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
    status_readme: Path | None = None  # the repository README whose status block this run rewrote

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.preview_error


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
            verdicts = tuple(verdict_record(v) for v in row.get("verdicts") or ())
            results.append(NotebookResult(**{**row, "headline": headline, "artefacts": tuple(row["artefacts"]),
                                             "verdicts": verdicts, "earlier": True}))
        return results
    except (KeyError, TypeError, ValueError):  # an older or hand-edited file: start the index afresh
        return []


def _default_order() -> tuple[str, ...]:
    """The repository manifest's order, or none when there is no manifest to read."""
    from fgkd.reproduce.manifest import load_manifest

    try:
        return load_manifest().names
    except (ValueError, FileNotFoundError):
        return ()


def collect_verdicts(results: Sequence[NotebookResult]) -> list[dict[str, Any]]:
    """Every successful notebook's verdict records, in the order of ``results``, with ``"notebook"``
    (its name) added; failed notebooks contribute none."""
    return [{**v, "notebook": r.name} for r in results if r.ok for v in r.verdicts]


def _no_verdicts(result: NotebookResult) -> str:
    return "no verdicts: the notebook failed" if not result.ok else "no verdicts recorded"


def _verdicts_markdown(results: Sequence[NotebookResult]) -> list[str]:
    lines = ["| notebook | claim | status | mean difference | 95 % interval | seeds |", "|---|---|---|---|---|---|"]
    for r in results:
        if not (r.ok and r.verdicts):
            lines.append(f"| `{r.name}` | {_no_verdicts(r)} | {MISSING} | {MISSING} | {MISSING} | {MISSING} |")
        for v in r.verdicts if r.ok else ():
            c = verdict_cells(v)
            lines.append(f"| `{r.name}` | {_md(c['claim'])} | {c['status']} | {c['mean']} | {c['interval']} | "
                         f"{c['seeds']} |")
    return lines


def _verdicts_html(results: Sequence[NotebookResult]) -> str:
    esc = html.escape
    rows = ["<table class=\"verdicts\">", "<tr><th>notebook</th><th>claim</th><th>status</th><th>mean difference</th>"
            "<th>95 % interval</th><th>seeds</th></tr>"]
    for r in results:
        if not (r.ok and r.verdicts):
            rows.append(f'<tr><td>{esc(r.name)}</td><td colspan="5" class="none">{esc(_no_verdicts(r))}</td></tr>')
        for v in r.verdicts if r.ok else ():
            c = verdict_cells(v)
            text = f"<br><small>{esc(str(v['text']))}</small>" if v.get("text") else ""
            rows.append(f'<tr class="{esc(c["status"])}"><td>{esc(r.name)}</td><td>{esc(c["claim"])}{text}</td>'
                        f'<td class="verdict">{esc(c["status"])}</td><td>{esc(c["mean"])}</td>'
                        f'<td>{esc(c["interval"])}</td><td>{esc(c["seeds"])}</td></tr>')
    return "\n".join(rows + ["</table>"])


def write_index(summary: ReproduceSummary, params_set: ParamsSet, order: Sequence[str] | None = None,
                run_record: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``index.html``, ``README.md``, ``summary.json`` and ``verdicts.json`` into the set's
    report folder.

    Rows: this run's notebooks plus those an earlier run left (marked "earlier run"), in ``order``
    (notebook names; default: the repository manifest's), names not in it last, alphabetically.
    ``run_record``: what :func:`fgkd.reproduce.record.run_record` returned ("How this was made").
    """
    order = tuple(_default_order() if order is None else order)
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
    rows_in_order = sorted([*summary.results, *kept],
                           key=lambda r: (order.index(r.name) if r.name in order else len(order), r.name))
    preview_rel = None
    if summary.preview and Path(summary.preview).is_file():
        # A copy inside the set's folder: the index still shows it after reports/<set>/ is copied elsewhere.
        local = set_dir / PREVIEW_FIGURE
        if Path(summary.preview).resolve() != local.resolve():
            with atomic_path(local) as tmp:
                shutil.copyfile(summary.preview, tmp)
        preview_rel = PREVIEW_FIGURE
    collected = collect_verdicts(rows_in_order)
    atomic_write_text(set_dir / VERDICTS_FILE, json.dumps(collected, indent=2, sort_keys=True, allow_nan=False) + "\n")
    counts_line = (f"Verdicts: {counts_text(collected)} (each claim's 95 % interval over seeds; positive is the "
                   f"paper's direction; all records in {VERDICTS_FILE}).")
    made = describe(run_record) if run_record else []

    # README.md
    lines = [f"# fgkd reports: params set `{params_set.name}`", "", status_line, "", f"**{counts_line}**", ""]
    if preview_rel:
        lines += [f"World preview: [{PREVIEW_FIGURE}]({preview_rel})", ""]
    if summary.preview_error:
        lines += [f"World preview missing: {summary.preview_error}", ""]
    lines += ["## Verdicts", "", *_verdicts_markdown(rows_in_order), "", "## Notebooks", ""]
    lines += ["| table / figure | status | runtime | files | fgkd | paper |", "|---|---|---|---|---|---|"]
    for r in rows_in_order:
        files = " · ".join(f"[{label}]({target})" for label, target in _links(r))
        kit, paper = _headline_cells(r)
        lines.append(f"| {_md(r.title)} (`{r.name}`) | {_md(_status_text(r))} | {r.runtime_s:.1f} s | "
                     f"{files} | {_md(kit)} | {_md(paper)} |")
    lines += ["", "## How this was made", ""]
    lines += [f"- {line}" for line in made] + ([f"- All of it, with the shared recipes: [{RUN_RECORD_FILE}]"
                                                f"({RUN_RECORD_FILE})"] if made else ["- No run record was written."])
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
    template = Template(resources.files("fgkd.reproduce").joinpath(TEMPLATE).read_text(encoding="utf-8"))
    made_html = ("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in made)
                 + f'<li>All of it, with the shared recipes: <a href="{RUN_RECORD_FILE}">{RUN_RECORD_FILE}</a>'
                 + "</li></ul>"
                 if made else "<p>No run record was written.</p>")
    page = template.substitute(set_name=esc(params_set.name), status_line=esc(status_line), preview=preview_html,
                               rows="\n".join(rows), counts=esc(counts_line), verdicts=_verdicts_html(rows_in_order),
                               made=made_html)
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
        "verdict_counts": verdict_counts(collected), "verdicts": VERDICTS_FILE, "run_record": run_record,
    })
    return index_html, readme
