"""fgkd.scorers itself: the scorer registry and the one logit / sigmoid (the VLM backend is in
tests/teachers/test_vlm.py, the CLIP one in tests/teachers/test_clip.py)."""

from __future__ import annotations

import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

from fgkd.scorers import get_scorer, list_scorers, logit, sigmoid
from fgkd.scorers.oracle import OracleAspectScorer


def test_registry_names_and_unknown_name():
    assert list_scorers() == ["clip", "oracle", "vlm"]
    with pytest.raises(ValueError, match=r"unknown aspect scorer 'gpt'.*\['clip', 'oracle', 'vlm'\]"):
        get_scorer("gpt")


def test_oracle_is_registered():
    scorer = get_scorer("oracle", noise=0.5, seed=2)
    assert isinstance(scorer, OracleAspectScorer)
    assert (scorer.config.noise, scorer.config.seed) == (0.5, 2)


def test_clip_resolves_lazily_to_the_clip_module(monkeypatch):
    received = {}

    class ClipAspectScorer:
        def __init__(self, **options):
            received.update(options)

    fake = types.ModuleType("fgkd.teachers.clip")
    fake.ClipAspectScorer = ClipAspectScorer
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", fake)
    scorer = get_scorer("clip", teacher="embedded-S", batch_size=8)
    assert isinstance(scorer, ClipAspectScorer)
    assert received == {"teacher": "embedded-S", "batch_size": 8}


def test_clip_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", types.ModuleType("fgkd.teachers.clip"))
    with pytest.raises(ImportError, match="no ClipAspectScorer"):
        get_scorer("clip")
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", None)  # module absent
    with pytest.raises(ImportError, match="fgkd.teachers.clip"):
        get_scorer("clip")


def test_importing_the_registry_loads_no_model_library():
    code = ("import sys, fgkd.scorers, fgkd.scorers.oracle, fgkd.scorers.cache; "
            "print(sorted(m for m in ('torch', 'transformers', 'open_clip', 'scipy', 'fgkd.teachers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_logit_and_sigmoid_are_inverse_on_the_open_interval():
    rng = np.random.default_rng(0)
    p = rng.uniform(1e-6, 1 - 1e-6, 10_000)
    np.testing.assert_allclose(sigmoid(logit(p)), p, rtol=1e-9, atol=0)
    x = rng.uniform(-12, 12, 10_000)
    np.testing.assert_allclose(logit(sigmoid(x)), x, rtol=0, atol=1e-9)
    assert logit(0.5) == 0.0 and sigmoid(0.0) == 0.5
    np.testing.assert_allclose(logit(np.array([0.25, 0.75])), [-np.log(3), np.log(3)], rtol=1e-15)
    np.testing.assert_allclose(sigmoid(np.array([-np.log(3), np.log(3)])), [0.25, 0.75], rtol=1e-15)


def test_logit_clips_at_the_ends():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero at p = 0 or 1
        z = logit(np.array([0.0, 1e-9, 1 - 1e-9, 1.0]))
        z3 = logit(np.array([0.0, 1.0, 0.5]), eps=1e-3)
    lo, hi = np.log(1e-6) - np.log1p(-1e-6), np.log(1 - 1e-6) - np.log1p(-(1 - 1e-6))  # eps = 1e-6
    np.testing.assert_array_equal(z, [lo, lo, hi, hi])
    assert hi == pytest.approx(-lo, rel=1e-11)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z3, [-np.log(999), np.log(999), 0.0], rtol=1e-12)
    assert logit(np.array([0.0, 0.3], dtype=np.float32)).dtype == np.float32


def test_sigmoid_does_not_overflow():
    with pytest.warns(RuntimeWarning, match="overflow"):  # what the naive form does
        1.0 / (1.0 + np.exp(np.float64(1000.0)))
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error", RuntimeWarning)
        low, high = sigmoid(np.float64(-1000.0)), sigmoid(np.float64(1000.0))
        many = sigmoid(np.array([-1e308, -745.0, -50.0, 50.0, 745.0, 1e308]))
        low32 = sigmoid(np.float32(-1000.0))
    assert low == 0.0 and high == 1.0 and low32 == 0.0
    assert np.all((many >= 0) & (many <= 1)) and np.all(np.diff(many) >= 0)
    assert many[2] == pytest.approx(np.exp(-50.0), rel=1e-12)  # accurate in the tail, not just 0
