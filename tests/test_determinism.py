"""fgkd.determinism: the context manager, the runtime ``threads`` field, and the same bytes from
processes whose thread environments differ (a run; a smoke notebook through ``fgkd reproduce``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_fakes import lead_config, makd_config, make_method, tiny_teacher

import fgkd
from fgkd.config import ConfigError
from fgkd.determinism import CUBLAS_WORKSPACE_CONFIG, current_settings, deterministic, device_of

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).parent
TIMINGS = {"train_seconds", "seconds_per_epoch", "images_per_second", "inference_seconds"}  # metrics.json
WALL_CLOCK = {"train_s"}  # the reports' timing metric
RECORD_KEYS = {"threads", "interop_threads", "deterministic_algorithms", "warn_only", "cudnn_deterministic",
               "cudnn_benchmark", "torch", "device", "library_threads"}


# --- the context manager ------------------------------------------------------------------------

@pytest.fixture
def two_threads():
    """The process at 2 intra-op threads and non-deterministic defaults, restored afterwards."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


def test_fixes_threads_and_flags_inside_and_restores_them(two_threads):
    assert not torch.are_deterministic_algorithms_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with deterministic(1, "cpu") as record:
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()  # strict on CPU
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert torch.get_num_threads() == 2
    assert not torch.are_deterministic_algorithms_enabled()
    assert (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) == cudnn
    assert set(record) == RECORD_KEYS
    assert record["threads"] == 1 and record["deterministic_algorithms"] is True and record["warn_only"] is False
    assert record["device"] == "cpu" and record["torch"] == torch.__version__ and type(record["torch"]) is str
    assert record["interop_threads"] == torch.get_num_interop_threads()  # what is in force, set or not
    assert json.loads(json.dumps(record)) == record


def test_blocks_nest_and_restore_on_error(two_threads):
    with deterministic(1) as outer:
        with deterministic(2, warn_only=True) as inner:
            assert torch.get_num_threads() == 2 and torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.get_num_threads() == 1 and not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
    assert (outer["threads"], inner["threads"], inner["warn_only"]) == (1, 2, True)
    with pytest.raises(KeyError):
        with deterministic(1):
            raise KeyError("inside")
    assert torch.get_num_threads() == 2 and not torch.are_deterministic_algorithms_enabled()


def test_numpy_blas_and_openmp_threads_are_limited_too(two_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded

    def pools():
        return {lib["filepath"]: lib["num_threads"] for lib in threadpoolctl.threadpool_info()}

    before = pools()
    with deterministic(1) as record:
        inside = pools()
    assert record["library_threads"] == 1 and inside and set(inside.values()) == {1}
    assert pools() == before and torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_int(threads):
    with pytest.raises(ValueError, match="threads"):
        with deterministic(threads):
            pass


def test_strict_on_cpu_raises_for_an_op_without_a_deterministic_kernel():
    """What strict mode is for (``put_`` without accumulation has no deterministic kernel)."""
    x = torch.zeros(4)
    with deterministic(1), pytest.raises(RuntimeError, match="deterministic"):
        x.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))
    with deterministic(1, warn_only=True), pytest.warns(UserWarning, match="deterministic"):
        x.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))


def test_current_settings_and_device_of():
    assert current_settings("cpu")["device"] == "cpu"
    assert device_of(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert device_of(object()) == torch.device("cpu")

    class Scorer:
        teacher = type("T", (), {"device": torch.device("cpu")})()

    assert device_of(Scorer()) == torch.device("cpu")


def test_import_fgkd_sets_the_cublas_workspace_unless_the_user_chose_one():
    assert fgkd._os.environ.get("CUBLAS_WORKSPACE_CONFIG")  # this process imported fgkd
    code = "import os, fgkd, fgkd.determinism as d; print(os.environ['CUBLAS_WORKSPACE_CONFIG'], d.CUBLAS_WORKSPACE_CONFIG)"
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == [CUBLAS_WORKSPACE_CONFIG, CUBLAS_WORKSPACE_CONFIG]
    done = subprocess.run([sys.executable, "-c", code], env={**env, "CUBLAS_WORKSPACE_CONFIG": ":16:8"},
                          capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split()[0] == ":16:8"


# --- shared caches: their own fixed threads, whatever the caller's ----------------------------------

def test_scorer_caches_compute_with_shared_threads_and_record_them(tmp_cache):
    import numpy as np

    from fgkd.determinism import SHARED_THREADS
    from fgkd.scorers import cached_scores

    seen = []

    class Scorer:
        name, provenance = "fake", {"scorer": "fake"}

        def score(self, dataset, questions):
            seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                         torch.is_deterministic_algorithms_warn_only_enabled()))
            return np.full((len(dataset), len(questions)), 0.5)

    with deterministic(2):  # a run with threads=2 asks first
        cached_scores(Scorer(), list(range(3)), ["Is it red?"], dataset_id="d", split="train")
        assert torch.get_num_threads() == 2
    assert seen == [(SHARED_THREADS, True, True)]  # warn_only: the vlm scorer runs transformers' code
    meta = json.loads(next((tmp_cache / "aspects").glob("*.json")).read_text())
    assert meta["determinism"]["threads"] == SHARED_THREADS


def test_teacher_outputs_compute_with_shared_threads_whatever_the_caller(tmp_cache):
    from train_fakes import CLASSES, Blobs

    from fgkd.determinism import SHARED_THREADS
    from fgkd.teachers import teacher_outputs

    teacher, data = tiny_teacher(), Blobs("test", per_class=2)
    descriptions = [f"a {c.lower()}" for c in CLASSES]
    outs = []
    for threads in (2, 1):
        with deterministic(threads):
            outs.append(teacher_outputs(teacher, data, descriptions, dataset_id=f"blobs{threads}", split="test",
                                        text_config={}))
    assert [o.provenance["determinism"]["threads"] for o in outs] == [SHARED_THREADS] * 2
    for name in ("image_emb", "probs", "entropy", "prototypes"):
        assert torch.equal(getattr(outs[0], name), getattr(outs[1], name)), name


# --- the runtime field --------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda **kw: lead_config(method="moco", **kw), makd_config], ids=["lead", "makd"])
def test_threads_is_a_validated_runtime_field(make):
    cfg = make()
    assert cfg.threads == 1 and cfg.record()["threads"] == 1
    assert make(threads=3).config_hash() == cfg.config_hash()  # runtime: the same run key
    with pytest.raises(ConfigError, match="threads"):
        make(threads=0)


# --- every method fgkd trains runs under strict deterministic algorithms on CPU -------------------

@pytest.mark.parametrize("method", ["moco", "lead", "simclr", "ibot", "makd", "makd_random", "ce"])
def test_every_method_trains_under_strict_determinism(method, llm_files, fake_scorer, tmp_path):
    """No op of a training step (forward and backward) lacks a deterministic CPU kernel: the engine
    trains in strict mode (an op without one would raise), with the config's threads."""
    from fgkd.train.engine import train

    if method in ("makd", "makd_random", "ce"):
        cfg = makd_config(llm_options=llm_files, epochs=1, alpha={"ce": 0.0}.get(method, 1.0),
                          targets="random" if method == "makd_random" else "real", threads=2)
        m = make_method(cfg)
    else:
        cfg = lead_config(method=method, epochs=1, threads=2, **({"llm_options": llm_files} if method == "lead" else {}))
        m = make_method(cfg, teacher=tiny_teacher()) if method == "lead" else make_method(cfg)
    seen = []
    train(m, tmp_path, on_epoch_end=lambda epoch, record: seen.append(
        (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
         torch.is_deterministic_algorithms_warn_only_enabled())))
    assert seen == [(2, True, False)]


# --- the same bytes from two processes whose thread environments differ -----------------------------

def _train_in_subprocess(cfg_file: Path, cache: Path, threads: int) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(FGKD_CACHE_DIR=str(cache), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    # tests/train/ddp_main.py registers the fakes and runs `python -m fgkd.train`'s main (one process here)
    done = subprocess.run([sys.executable, str(TESTS / "train" / "ddp_main.py"), "--config", str(cfg_file)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(json.loads(done.stdout[done.stdout.index("{"):])["run"])


# Big enough that two threads change the sums: with 2 threads and no fixed setting, most of these
# runs' weight tensors differ in their last bits (32 px, 64 images, batch 16).
BIGGER = dict(image_size=32, batch_size=16, epochs=1, dataset_options={"per_class": 16, "size": 32})


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: lead_config(method="moco", queue_size=64, **BIGGER),
                                  lambda: makd_config(alpha=0.0, **BIGGER)], ids=["moco", "ce"])
def test_a_run_is_bit_identical_whatever_the_thread_environment(make, tmp_path):
    cfg = make()
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg.record()))
    one = _train_in_subprocess(cfg_file, tmp_path / "cache1", threads=1)
    two = _train_in_subprocess(cfg_file, tmp_path / "cache2", threads=2)
    assert one.name == two.name == cfg.config_hash()

    a = torch.load(one / "model.pt", weights_only=True)
    b = torch.load(two / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, f"{len(differing)} of {len(a)} tensors differ, e.g. {differing[:3]}"

    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (one, two))
    assert {k: v for k, v in ma.items() if k not in TIMINGS} == {k: v for k, v in mb.items() if k not in TIMINGS}
    assert ma["determinism"]["threads"] == 1 and ma["determinism"]["deterministic_algorithms"] is True
    losses = [[{k: v for k, v in h.items() if k not in ("seconds", "images_per_second")}
               for h in json.loads((p / "history.json").read_text())] for p in (one, two)]
    assert losses[0] == losses[1]
    assert json.loads((one / "config.json").read_text())["threads"] == 1


@pytest.mark.slow
def test_a_smoke_notebook_gives_the_same_csv_bytes_whatever_the_thread_environment(tmp_path):
    """``fgkd reproduce`` from two empty caches, OMP_NUM_THREADS=1 then 2 (its teacher included)."""
    reports = []
    for threads in (1, 2):
        env = {**os.environ, "FGKD_CACHE_DIR": str(tmp_path / f"cache{threads}"),
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        out = tmp_path / f"reports{threads}"
        cmd = [sys.executable, "-m", "fgkd.cli", "reproduce", "--params", "smoke", "--only", "lead_word_removal",
               "--reports", str(out), "--jobs", "1"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
        reports.append(out)
    csvs = [sorted(p.relative_to(r) for p in r.rglob("*.csv")) for r in reports]
    assert csvs[0] and csvs[0] == csvs[1]
    for name in csvs[0]:
        a, b = ((r / name).read_bytes() for r in reports)
        if a != b:  # only wall-clock timings may differ, and nothing else on their lines
            assert _without_timings(a) == _without_timings(b), name


def _without_timings(data: bytes) -> list[list[str]]:
    """A CSV's rows without its wall-clock timings: rows naming a timing metric (the per-seed
    tables' ``train_s``) and timing columns."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(data.decode())))
    keep = [i for i, name in enumerate(rows[0]) if name not in WALL_CLOCK]
    return [[row[i] for i in keep] for row in rows if not WALL_CLOCK & set(row)]
