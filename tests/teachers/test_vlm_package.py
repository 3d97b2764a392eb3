"""The layout of the fgkd.teachers.vlm package: layered modules and the package's re-exports.

The scorer's behaviour is tested in test_vlm.py (on a tiny LLaVA through the package's names).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import fgkd.teachers.vlm as vlm

# Lowest layer first: a module may import only modules before it.
LAYERS = ["config", "loading", "readout", "prefix", "runner", "scorer", "remote"]
PACKAGE = Path(vlm.__file__).parent


def _package_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fgkd.teachers.vlm"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fgkd.teachers.vlm"))
    return found


def test_the_package_holds_exactly_the_layered_modules():
    assert sorted(p.stem for p in PACKAGE.glob("*.py")) == sorted(["__init__", *LAYERS])
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.name


@pytest.mark.parametrize("index, module", list(enumerate(LAYERS)))
def test_modules_import_only_lower_layers(index, module):
    allowed = {f"fgkd.teachers.vlm.{lower}" for lower in LAYERS[:index]}
    imports = _package_imports(module)
    assert imports <= allowed, f"{module} imports {sorted(imports - allowed)}"


def test_package_re_exports_the_defining_modules_objects():
    assert sorted(vlm.__all__) == sorted(set(vlm.__all__))
    for name in vlm.__all__:
        value = getattr(vlm, name)
        owner = getattr(value, "__module__", None)
        if owner is not None and owner.startswith("fgkd.teachers.vlm."):
            assert getattr(importlib.import_module(owner), name) is value


def test_scorer_looks_up_load_vlm_once_in_the_scorer_module(monkeypatch):
    # Patch fgkd.teachers.vlm.scorer.load_vlm_once (where VlmAspectScorer looks it up), not the package.
    def fake_load(config):
        raise LookupError(f"patched load of {config.model_id}")

    monkeypatch.setattr(importlib.import_module("fgkd.teachers.vlm.scorer"), "load_vlm_once", fake_load)
    with pytest.raises(LookupError, match="patched load of some/model"):
        vlm.VlmAspectScorer("some/model")
