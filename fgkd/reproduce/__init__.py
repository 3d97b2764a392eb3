"""``fgkd reproduce``: params sets, their validation, the notebooks' manifest, execution and index.

Modules (import the one you need; this package imports none of them up front, so
``fgkd.experiments`` can read recipes through the leaf :mod:`fgkd.reproduce.sets` while
:mod:`fgkd.reproduce.params` and :mod:`fgkd.reproduce.execute` import ``fgkd.experiments``):

- :mod:`~fgkd.reproduce.sets`: where params sets and notebooks live, :class:`ParamsSet`,
  ``resolve_params_set``, reading YAML with clear errors, ``recipe_values(set, paper)`` (leaf);
- :mod:`~fgkd.reproduce.params`: parameters-cell parsing, ``check_params`` / ``prepare_params`` /
  ``load_params`` and the name registries behind them;
- :mod:`~fgkd.reproduce.manifest`: ``notebooks/manifest.yaml`` (order, paper, title, measured cold
  seconds) and ``discover_notebooks``;
- :mod:`~fgkd.reproduce.execute`: papermill execution, fingerprints, teacher scheduling and the
  ``reproduce(config)`` driver;
- :mod:`~fgkd.reproduce.index`: ``index.html`` (from ``templates/index.html``), ``README.md`` and
  ``summary.json``.

The names below are also reachable here, imported on first use: ``from fgkd.reproduce import
reproduce, ReproduceConfig``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sets": ("ParamsError", "ParamsSet", "Problem", "resolve_params_set", "list_params_sets", "recipe_values",
             "params_root", "notebooks_root", "PARAMS_SETS", "DEFAULT_SET"),
    "params": ("check_params", "load_params", "prepare_params", "notebook_parameters", "NotebookParams"),
    "manifest": ("load_manifest", "discover_notebooks", "Manifest", "Entry"),
    "execute": ("reproduce", "ReproduceConfig", "execute_notebook", "notebook_fingerprint", "teacher_jobs"),
    "index": ("write_index", "NotebookResult", "ReproduceSummary"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
