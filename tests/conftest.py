import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # train_fakes.py and notebook_fakes.py sit beside this file
import train_fakes  # noqa: E402  (registers fake:blobs and the test_tiny backbone)


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


@pytest.fixture
def llm_files(tmp_path):
    return train_fakes.write_llm_files(tmp_path)


@pytest.fixture(scope="session")
def teacher():
    return train_fakes.tiny_teacher()


@pytest.fixture
def fake_scorer(monkeypatch):
    """MaKD targets from ``train_fakes.fake_scores`` instead of a scorer model; counts the calls."""
    import fgkd.methods.makd as makd

    calls = []

    def scorer_targets(cfg, scorer, dataset, split, questions):
        calls.append((split, len(dataset), len(questions)))
        return train_fakes.fake_scores(dataset, questions)

    monkeypatch.setattr(makd, "scorer_targets", scorer_targets)
    return calls
