import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # train_fakes.py sits beside this file
import train_fakes  # noqa: E402  (registers fake:blobs and the test_tiny backbone)


@pytest.fixture
def llm_files(tmp_path):
    return train_fakes.write_llm_files(tmp_path)


@pytest.fixture(scope="session")
def teacher():
    return train_fakes.tiny_teacher()


@pytest.fixture
def fake_scorer(monkeypatch):
    """MaKD targets from ``train_fakes.fake_scores`` instead of a scorer model; counts the calls."""
    import fgkd.train.makd as makd

    calls = []

    def scorer_targets(cfg, dataset, split, questions):
        calls.append((split, len(dataset), len(questions)))
        return train_fakes.fake_scores(dataset, questions)

    monkeypatch.setattr(makd, "scorer_targets", scorer_targets)
    return calls
