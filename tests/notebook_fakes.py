"""Tiny notebooks built in code for the params/reproduce tests (they follow fgkd's conventions)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = '''num_classes = 10  # classes in the table
lr = 0.1  # learning rate
dataset = "world:bird"  # dataset name
use_cache = True  # reuse cached runs
note = None  # anything goes
data_root = ""  # folder of real data, empty for the registry default
output_dir = "."  # where tables, figures and headline.json go
'''


def make_notebook(path: Path, body: Sequence[str] = (), parameters: str = PARAMETERS,
                  title: str = "# A fake table") -> Path:
    """Write a notebook: title, "## Parameters" header, the parameters cell, then ``body`` code cells."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_markdown_cell(title), new_markdown_cell("## Parameters"),
                new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [new_code_cell(source) for source in body]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


GOOD_BODY = (
    "from fgkd import report",
    "report.write_table([{'num_classes': num_classes, 'Top-1': 12.5}], 'good', output_dir, caption='Good')\n"
    "report.write_headline(output_dir, title='Good', kit={'Top-1': 12.5},\n"
    "                      kit_label='fgkd embedded (world:bird, 32 px)',\n"
    "                      paper={'Top-1': 78.44}, paper_label='paper (CUB, ResNet50, 224 px)')",
)
BAD_BODY = (
    "x = 1",
    "raise ValueError('boom: deliberately broken')",
    "print('never reached')",
)


def write_manifest(folder: Path, entries: dict[str, str | None] | Sequence[str],
                   cold_seconds: dict[str, float] | None = None) -> Path:
    """``folder/manifest.yaml`` listing ``entries`` in order (name -> paper, or names: paper none)."""
    import yaml

    papers = dict(entries) if isinstance(entries, dict) else dict.fromkeys(entries)
    data = {name: {"title": f"A fake table {name}", "paper": paper or "none", "reproduces": "a fake table",
                   "cold_seconds": (cold_seconds or {}).get(name, 1)} for name, paper in papers.items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
