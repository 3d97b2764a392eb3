"""What a notebook calls to write its results where ``fgkd reproduce`` (and a reader) finds them.

Every notebook ends the same way: its table as CSV + Markdown, its figures as PNG, a small
headline (a few key numbers beside the paper's) as JSON and its verdicts (one record per claim of
the paper it checks, :func:`write_verdicts`) as ``verdicts.json``, all in ``output_dir`` (a
parameter; ``fgkd reproduce`` sets it to ``reports/<set>/<notebook>/``)::

    from fgkd import report
    from fgkd.reference import paper_table, paper_label

    paper = paper_table("lead", "table4")                       # indexed by removal_pct
    kit = ...                                                   # same index, same metric columns
    table = report.side_by_side(kit, paper, kit_label=report.kit_label("world:bird", 32),
                                paper_label=paper_label("lead", "table4"))
    report.write_table(table, "lead_word_removal", output_dir, caption="Word removal")
    report.write_figure(fig, "lead_word_removal", output_dir)
    report.write_headline(output_dir, title="Word removal", kit={"Top-1 @0%": 41.2},
                          kit_label=..., paper={"Top-1 @0%": 78.44}, paper_label=...)
    report.write_verdicts(output_dir, verdicts)   # Verdict objects (.record()) or dicts

Labels say which scale numbers come from: ``"paper (CUB, ResNet50, 224 px)"`` (see
:func:`fgkd.reference.paper_label`) vs ``"fgkd embedded (world:bird, 32 px)"`` (:func:`kit_label`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from fgkd.figures import describe, enable_alt_text
from fgkd.io import atomic_path, atomic_write_json, atomic_write_text

HEADLINE_FILE = "headline.json"
COLUMN_JOIN = " · "  # "fgkd · <metric>" when two-level columns are written flat
MISSING = "—"
KIT, PAPER = "fgkd", "paper"  # the two column groups of side_by_side; their full labels go in the caption
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith((".csv", ".md", ".png")):
        raise ValueError(f"output name {name!r} must be a plain file stem (letters, digits, '_', '-', '.'), "
                         "without folder or extension, e.g. 'lead_word_removal'")
    return name


def prepare_output_dir(output_dir: str | os.PathLike = ".") -> Path:
    """``output_dir`` as a created folder (the notebooks' "check inputs" cell calls this first)."""
    path = Path(output_dir).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def kit_label(dataset: str, image_size: int | None = None, backbone: str | None = None) -> str:
    """How reports label fgkd's own numbers: ``"fgkd embedded (world:bird, 32 px)"`` for the
    embedded world, ``"fgkd (cub200, resnet50, 224 px)"`` for real data."""
    scale = "fgkd embedded" if str(dataset).startswith("world:") else "fgkd"
    parts = [str(dataset)] + ([backbone] if backbone else []) + ([f"{image_size} px"] if image_size else [])
    return f"{scale} ({', '.join(parts)})"


# --- tables -------------------------------------------------------------------------------------


def _frame(table: Any):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, Mapping):
        return pd.DataFrame(table)
    return pd.DataFrame(list(table))


def side_by_side(
    kit: Any, paper: Any, *, kit_label: str, paper_label: str, columns: Sequence[str] | None = None,
):
    """fgkd's numbers and the paper's in one DataFrame with two-level columns ``("fgkd", metric)``
    and ``("paper", metric)``: short headers, the scales said once (``kit_label`` and
    ``paper_label`` are kept in ``table.attrs["sources"]``, which :func:`write_table` and
    :func:`show` put in the caption).

    ``kit`` and ``paper`` are DataFrames (or lists of row dicts) sharing an index (e.g. the
    removal ratio, or ``(dataset, backbone)``); rows found in only one side get NaN in the other.
    ``columns`` picks and orders the metrics (default: the paper's, then any only fgkd has).
    """
    import pandas as pd

    kit, paper = _frame(kit), _frame(paper)
    if kit_label == paper_label:
        raise ValueError(f"kit_label and paper_label are both {kit_label!r}; they must tell the scales apart")
    if columns is None:
        columns = list(paper.columns) + [c for c in kit.columns if c not in paper.columns]
    columns = list(columns)
    unknown = [c for c in columns if c not in kit.columns and c not in paper.columns]
    if unknown:
        raise KeyError(f"columns {unknown} are in neither table; fgkd has {list(kit.columns)}, "
                       f"the paper has {list(paper.columns)}")
    parts = {KIT: kit.reindex(columns=columns), PAPER: paper.reindex(columns=columns)}
    table = pd.concat(parts, axis=1, join="outer")
    table.attrs["sources"] = {KIT: kit_label, PAPER: paper_label}  # said once, in the caption
    return table


def sources_text(table: Any) -> str:
    """``"fgkd: <kit label>; paper: <paper label>"`` for a :func:`side_by_side` table, else ``""``."""
    sources = getattr(table, "attrs", {}).get("sources") or {}
    return "; ".join(f"{short}: {long}" for short, long in sources.items())


def show(table: Any, digits: int = 2):
    """A table as a notebook shows it: numbers rounded as the papers print them (``digits``
    decimals), missing values as "—", and a :func:`side_by_side` table's sources as its caption."""
    frame = _frame(table)
    styler = frame.style.format(precision=digits, na_rep=MISSING)
    caption = sources_text(frame)
    return styler.set_caption(caption) if caption else styler


def _flat(frame):
    """A copy with two-level columns joined ("label · metric") and a meaningful index as columns."""
    import pandas as pd

    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [COLUMN_JOIN.join(str(p) for p in col if str(p)) for col in frame.columns]
    named = any(n is not None for n in frame.index.names)
    if named or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame


def _cell(value: Any, float_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float):
        return float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Any, float_format: str = "{:.2f}") -> str:
    """A GitHub-flavoured Markdown table (missing values as "—"); no extra dependency needed."""
    frame = _flat(_frame(table))
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    table: Any, name: str, output_dir: str | os.PathLike = ".", *, caption: str = "", float_format: str = "{:.2f}",
) -> dict[str, Path]:
    """Write ``table`` as ``<name>.csv`` (full precision) and ``<name>.md`` (``caption`` on top).

    ``table`` is a DataFrame (two-level columns from :func:`side_by_side` are written flat as
    ``"fgkd · metric"`` / ``"paper · metric"``; the sources they stand for are added to the
    caption unless it names them) or a list of row dicts. Returns ``{"csv": path, "md": path}``.
    """
    name = _check_name(name)
    out = prepare_output_dir(output_dir)
    sources = getattr(table, "attrs", {}).get("sources") or {}
    if sources and not all(label in caption for label in sources.values()):
        caption = f"{caption.strip()} ({sources_text(table)})" if caption.strip() else sources_text(table)
    frame = _flat(_frame(table))
    with atomic_path(out / f"{name}.csv") as tmp:
        frame.to_csv(tmp, index=False)
    text = (f"**{caption.strip()}**\n\n" if caption.strip() else "") + to_markdown(frame, float_format)
    atomic_write_text(out / f"{name}.md", text)
    return {"csv": out / f"{name}.csv", "md": out / f"{name}.md"}


# --- figures ------------------------------------------------------------------------------------


def figure_path(name: str, output_dir: str | os.PathLike = ".") -> Path:
    """``<output_dir>/<name>.png``: where a figure drawn by other code (e.g. ``render_preview``) goes."""
    return prepare_output_dir(output_dir) / f"{_check_name(name)}.png"


def write_figure(figure: Any, name: str, output_dir: str | os.PathLike = ".", *, dpi: int = 150) -> Path:
    """Save a matplotlib figure (or copy an existing PNG file) to ``<output_dir>/<name>.png``
    (its alternative text, :func:`fgkd.figures.describe`, goes into the PNG's "Description").

    The figure stays open, so the notebook still shows it inline.
    """
    target = figure_path(name, output_dir)
    if isinstance(figure, (str, os.PathLike)):
        source = Path(figure)
        if not source.is_file():
            raise FileNotFoundError(f"write_figure got the path {source}, which is not a file")
        if source.resolve() != target.resolve():
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        return target
    if not hasattr(figure, "savefig"):
        raise TypeError(f"write_figure needs a matplotlib Figure or a PNG path, got {type(figure).__name__}")
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Description": describe(figure)})
    return target


# --- headline -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """A notebook's few key numbers beside the paper's (what the reports index shows)."""

    title: str
    kit_label: str
    kit: dict[str, float | None]
    paper_label: str = ""
    paper: dict[str, float | None] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("Headline.title must say what the numbers are, e.g. 'Word removal (Top-1)'")
        if not self.kit and not self.paper:
            raise ValueError("Headline needs at least one number (kit= or paper=)")
        for side, values in (("kit", self.kit), ("paper", self.paper)):
            for key, value in values.items():
                if value is not None and not isinstance(value, (int, float)):
                    raise ValueError(f"Headline.{side}[{key!r}] must be a number or None, got {value!r}")
        if self.paper and not self.paper_label:
            raise ValueError("Headline.paper_label must name the paper's scale, e.g. 'paper (CUB, ResNet50, 224 px)'")

    @staticmethod
    def _format(values: Mapping[str, float | None]) -> str:
        def number(v: float | None) -> str:
            if v is None or math.isnan(v):
                return MISSING
            return str(int(v)) if float(v).is_integer() and abs(v) < 1e9 else f"{v:.2f}"

        return ", ".join(f"{k} {number(v)}" for k, v in values.items())

    def kit_text(self) -> str:
        """``"Top-1 41.20, mAP 18.00"``."""
        return self._format(self.kit)

    def paper_text(self) -> str:
        return self._format(self.paper)


def write_headline(
    output_dir: str | os.PathLike, *, title: str, kit: Mapping[str, float | None], kit_label: str,
    paper: Mapping[str, float | None] | None = None, paper_label: str = "", note: str = "",
) -> Path:
    """Write ``<output_dir>/headline.json``: ``title``, fgkd's key numbers ``kit`` (labelled
    ``kit_label``) and the paper's matching numbers ``paper`` (labelled ``paper_label``)."""
    def numbers(values: Mapping[str, Any] | None) -> dict[str, float | None]:
        result = {str(k): (None if v is None else float(v)) for k, v in (values or {}).items()}
        # NaN is not JSON: a number the notebook could not compute is "missing", like None.
        return {k: (None if v is not None and math.isnan(v) else v) for k, v in result.items()}

    headline = Headline(title=title, kit_label=kit_label, kit=numbers(kit), paper_label=paper_label,
                        paper=numbers(paper), note=note)
    path = prepare_output_dir(output_dir) / HEADLINE_FILE
    atomic_write_json(path, asdict(headline))
    return path


def read_headline(folder: str | os.PathLike) -> Headline | None:
    """The headline a notebook wrote into ``folder``; None if it wrote none."""
    path = Path(folder) / HEADLINE_FILE
    if not path.is_file():
        return None
    return Headline(**json.loads(path.read_text(encoding="utf-8")))


# --- verdicts -----------------------------------------------------------------------------------
#
# A notebook's last cell writes its verdicts: for each directional claim of the paper it checks,
# the per-seed mean of the measured quantity (positive = the paper's direction), its interval over
# seeds and the status read from it. ``fgkd reproduce`` collects them into reports/<set>/verdicts.json.

VERDICTS_FILE = "verdicts.json"
VERDICT_STATUSES = ("holds", "contradicted", "inconclusive")
VERDICT_KINDS = ("difference", "trend")
VERDICT_REQUIRED = ("claim", "status", "mean_diff", "ci_low", "ci_high", "n_seeds")
"""The keys every verdict record has; usually also kind, method, level, per_seed, unit, paper, text."""
_OPTIONAL_STR = ("method", "unit", "text", "notebook")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) as None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _number(value: Any, what: str, *, optional: bool) -> float | None:
    import numbers

    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        allowed = "a number or None" if optional else "a number"
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def verdict_record(verdict: Any) -> dict[str, Any]:
    """One verdict as a checked, JSON-ready dict: ``verdict`` is a dict or has a ``.record()``
    method returning one. Non-finite floats become None. Raises ``ValueError`` naming the claim
    (a missing key, a status outside :data:`VERDICT_STATUSES`, a value of the wrong type)."""
    import numbers

    raw = verdict.record() if hasattr(verdict, "record") and not isinstance(verdict, Mapping) else verdict
    if not isinstance(raw, Mapping):
        raise ValueError(f"a verdict must be a dict or have a .record() method returning one, got "
                         f"{type(verdict).__name__}: {verdict!r}")
    record = dict(raw)
    claim = record.get("claim")
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"verdict record {record!r} needs a 'claim': the paper's claim as a non-empty string")
    where = f"verdict {claim!r}"
    missing = [k for k in VERDICT_REQUIRED if k not in record]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(map(repr, missing))}; every verdict record has "
                         f"{', '.join(VERDICT_REQUIRED)}")
    if record["status"] not in VERDICT_STATUSES:
        raise ValueError(f"{where}: status {record['status']!r} must be one of {', '.join(VERDICT_STATUSES)}")
    record["mean_diff"] = _number(record["mean_diff"], f"{where}: mean_diff", optional=True)
    for key in ("ci_low", "ci_high", "paper"):
        if key in record:
            record[key] = _number(record[key], f"{where}: {key}", optional=True)
    if record["ci_low"] is not None and record["ci_high"] is not None and record["ci_low"] > record["ci_high"]:
        raise ValueError(f"{where}: ci_low {record['ci_low']} is above ci_high {record['ci_high']}")
    n = record["n_seeds"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{where}: n_seeds must be an integer >= 1 (the seeds averaged), got {n!r}")
    record["n_seeds"] = int(n)
    if "kind" in record and record["kind"] not in VERDICT_KINDS:
        raise ValueError(f"{where}: kind {record['kind']!r} must be one of {', '.join(VERDICT_KINDS)}")
    if "level" in record:
        level = _number(record["level"], f"{where}: level", optional=False)
        if level is None or not 0 < level < 1:
            raise ValueError(f"{where}: level must be a confidence level between 0 and 1 (0.95), "
                             f"got {record['level']!r}")
        record["level"] = level
    if "per_seed" in record:
        values = record["per_seed"]
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{where}: per_seed must be a list of numbers (one per seed), got {values!r}")
        values = [_number(v, f"{where}: per_seed value", optional=True) for v in values]
        if len(values) != record["n_seeds"]:
            raise ValueError(f"{where}: per_seed has {len(values)} values but n_seeds is {record['n_seeds']}")
        record["per_seed"] = values
    for key in _OPTIONAL_STR:
        if key in record and not isinstance(record[key], str):
            raise ValueError(f"{where}: {key} must be a string, got {record[key]!r}")
    return _finite(record)


def write_verdicts(output_dir: str | os.PathLike, verdicts: Sequence[Any]) -> Path:
    """Write ``<output_dir>/verdicts.json``: the checked records of ``verdicts`` (dicts or objects
    with ``.record()``, see :func:`verdict_record`) as a JSON list, keys sorted, NaN as null.

    A notebook's last cell calls this; ``fgkd reproduce`` collects every notebook's file. Raises
    ``ValueError`` naming the claim for a bad record, or a claim given twice.
    """
    if isinstance(verdicts, Mapping) or hasattr(verdicts, "record") or not hasattr(verdicts, "__iter__"):
        raise ValueError(f"write_verdicts needs a list of verdicts, got {type(verdicts).__name__}")
    records = [verdict_record(v) for v in verdicts]
    seen: set[str] = set()
    for record in records:
        if record["claim"] in seen:
            raise ValueError(f"verdict {record['claim']!r} is given twice; each claim once per notebook")
        seen.add(record["claim"])
    path = prepare_output_dir(output_dir) / VERDICTS_FILE
    atomic_write_text(path, json.dumps(records, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")
    return path


def read_verdicts(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The verdict records in ``<folder>/verdicts.json`` (or the file ``folder`` itself), checked
    as :func:`write_verdicts` checks them; ``[]`` when there is no such file. A damaged file is a
    ``ValueError`` naming its path."""
    path = Path(folder)
    if path.is_dir() or path.name != VERDICTS_FILE:
        path = path / VERDICTS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"it holds a {type(data).__name__}, not a list of verdict records")
        return [verdict_record(item) for item in data]
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path} is damaged: {error}. Re-run the notebook that writes it "
                         "(fgkd reproduce --force --only <notebook>)") from None


def verdict_counts(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many records have each status: ``{"holds": 3, "contradicted": 1, "inconclusive": 2}``."""
    counts = dict.fromkeys(VERDICT_STATUSES, 0)
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def counts_text(records: Sequence[Mapping[str, Any]]) -> str:
    """``"6 claims: 3 holds, 1 contradicted, 2 inconclusive"`` (the status labels as they are)."""
    counts = verdict_counts(records)
    total = sum(counts.values())
    return (f"{total} claim{'s' * (total != 1)}: {counts['holds']} holds, "
            f"{counts['contradicted']} contradicted, {counts['inconclusive']} inconclusive")


def signed(value: Any, digits: int = 2) -> str:
    """``+1.23`` / ``-0.50``; None and NaN as "—"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{float(value):+.{digits}f}"


def verdict_cells(record: Mapping[str, Any]) -> dict[str, str]:
    """A record as display cells: claim, status, mean (with its unit), 95 % interval ``[low, high]``
    ("—" with one seed) and seeds."""
    mean = signed(record.get("mean_diff"))
    unit = record.get("unit") or ""
    if unit and mean != MISSING:
        mean = f"{mean} {unit}"
    low, high = record.get("ci_low"), record.get("ci_high")
    interval = MISSING if low is None and high is None else f"[{signed(low)}, {signed(high)}]"
    return {"claim": str(record["claim"]), "status": str(record["status"]), "mean": mean,
            "interval": interval, "seeds": str(record.get("n_seeds", MISSING))}


def verdicts_markdown(records: Sequence[Mapping[str, Any]], *, notebook_column: bool = True) -> str:
    """A Markdown table of ``records``: (notebook,) claim, status, mean difference, 95 % interval, seeds."""
    def md(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    head = (["notebook"] if notebook_column else []) + ["claim", "status", "mean difference", "95 % interval",
                                                         "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for record in records:
        c = verdict_cells(record)
        cells = ([f"`{record.get('notebook', '')}`"] if notebook_column else []) + [
            md(c["claim"]), c["status"], c["mean"], c["interval"], c["seeds"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


enable_alt_text()  # in a notebook kernel: every figure shown carries its alternative text
