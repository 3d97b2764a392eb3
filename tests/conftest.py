import pytest


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty fgkd cache, so no test depends on what another left."""
    root = tmp_path_factory.mktemp("fgkd_cache")
    monkeypatch.setenv("FGKD_CACHE_DIR", str(root))
    return root
