import pytest


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty fgkd cache, so no test depends on what another left."""
    root = tmp_path_factory.mktemp("fgkd_cache")
    monkeypatch.setenv("FGKD_CACHE_DIR", str(root))
    return root


@pytest.fixture
def load_repo_script():
    """Import a script of the repository (``"scripts/makd_regimes.py"``) as a module, fresh each call:
    scripts and benchmarks are files, not a package."""
    import importlib.util
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def load(relative: str):
        path = repo / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
