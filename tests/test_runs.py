import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from train_fakes import lead_config, makd_config, tiny_teacher, write_llm_files  # noqa: E402

import fgkd.runs as runs  # noqa: E402
from fgkd.paths import cache_dir  # noqa: E402
from fgkd.runs import Run, get_or_train  # noqa: E402


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real_train = runs.train

    def counting_train(method, run_dir, **kwargs):
        calls.append(method.cfg.config_hash())
        return real_train(method, run_dir, **kwargs)

    monkeypatch.setattr(runs, "train", counting_train)
    return calls


def test_second_call_reads_the_store_without_training(count_training):
    cfg = lead_config(method="moco")
    first = get_or_train(cfg)
    assert count_training == [cfg.config_hash()]
    assert first.path == cache_dir("runs") / "moco" / cfg.config_hash()
    stamp = (first.path / "metrics.json").stat().st_mtime_ns

    second = get_or_train(cfg.replace(num_workers=2, progress=True))  # runtime fields: the same run
    assert count_training == [cfg.config_hash()]
    assert second.metrics == first.metrics
    assert (second.path / "metrics.json").stat().st_mtime_ns == stamp


def test_store_layout_and_contents():
    cfg = lead_config(method="moco")
    run = get_or_train(cfg)
    files = {p.name for p in run.path.iterdir()}
    assert {"config.json", "model.pt", "meta.json", "history.json", "metrics.json",
            "features_train.npz", "features_test.npz"} <= files
    assert "checkpoint.pt" not in files  # finished runs keep the weights only
    stored = json.loads((run.path / "config.json").read_text())
    assert stored["family"] == "lead" and stored["hash"] == cfg.config_hash() and stored["lr"] == cfg.lr
    m = run.metrics
    assert {"top1", "top5", "R-1", "R-5", "mAP", "seconds_per_epoch", "images_per_second", "epochs"} <= set(m)
    assert m["epochs"] == 2 and len(run.history) == 2


def test_model_and_features_come_back_from_disk():
    cfg = lead_config(method="moco")
    run = get_or_train(cfg)
    model = run.model()
    assert not model.training
    test = run.arrays("test")
    assert test["features"].shape == (32, 32) and test["labels"].shape == (32,)
    # the cached features are the loaded model's features
    from fgkd.data import get_dataset
    from fgkd.data.transforms import test_transform

    x, _ = get_dataset("fake:blobs", split="test", transform=test_transform(16))[0]
    with torch.no_grad():
        assert np.allclose(model.encode(x[None]).numpy()[0], test["features"][0], atol=1e-5)


def test_features_of_a_new_split_are_computed_once(tmp_path):
    cfg = lead_config(method="moco")
    run = get_or_train(cfg)
    (run.path / "features_test.npz").unlink()
    again = Run.of(cfg).arrays("test")
    assert (run.path / "features_test.npz").exists()
    assert np.array_equal(again["labels"], np.asarray(get_dataset_targets("test")))


def get_dataset_targets(split):
    from fgkd.data import get_dataset

    return get_dataset("fake:blobs", split=split).targets


def test_a_killed_run_resumes_in_the_store(count_training, monkeypatch):
    cfg = lead_config(method="moco", epochs=2)
    real_train = runs.train

    def dies_after_one_epoch(method, run_dir, **kwargs):
        def kill(epoch, record):
            raise KeyboardInterrupt

        return real_train(method, run_dir, on_epoch_end=kill)

    monkeypatch.setattr(runs, "train", dies_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        get_or_train(cfg)
    assert not Run.of(cfg).done and (Run.of(cfg).path / "checkpoint.pt").exists()
    monkeypatch.setattr(runs, "train", real_train)
    run = get_or_train(cfg)
    assert run.done and [h["epoch"] for h in run.history] == [1, 2]


def test_lead_and_makd_runs(tmp_path, monkeypatch):
    import fgkd.methods.makd as makd
    from train_fakes import fake_scores

    monkeypatch.setattr(makd, "scorer_targets", lambda cfg, scorer, data, split, qs: fake_scores(data, qs))
    llm = write_llm_files(tmp_path)
    lead = get_or_train(lead_config(llm_options=llm, teacher_mode="cached"), teacher=tiny_teacher())
    assert lead.path.parent.name == "lead" and 0 <= lead.metrics["mAP"] <= 100
    assert len(lead.meta["descriptions"]) == 4 and lead.meta["teacher_key"].startswith("embedded-S")
    ce = get_or_train(makd_config(llm_options=llm, alpha=0.0))
    ours = get_or_train(makd_config(llm_options=llm))
    assert ce.path.parent.name == ours.path.parent.name == "makd" and ce.path != ours.path
    assert ours.metrics["num_parameters"] - ce.metrics["num_parameters"] == 4 * (32 + 1)  # Q rows of the head
    assert "aspect_agreement" in ours.metrics and "aspect_agreement" not in ce.metrics
    test = ours.arrays("test")
    assert test["aspect_logits"].shape == test["scorer_probs"].shape == (32, 4)
    assert ours.model().num_aspects == 4 and ours.meta["questions"][0] == "Is the object red?"


def test_a_run_finished_by_another_process_while_waiting_is_not_trained_again(count_training):
    """`fgkd reproduce --jobs N`: a second notebook asking for a run being trained waits for it."""
    import threading

    from filelock import FileLock

    cfg = lead_config(method="moco")
    finished = get_or_train(cfg)
    metrics = (finished.path / "metrics.json").read_bytes()
    (finished.path / "metrics.json").unlink()  # as if another process were still training it
    lock = FileLock(str(finished.path.parent / f"{finished.path.name}.lock"))
    result = {}
    with lock:
        waiter = threading.Thread(target=lambda: result.setdefault("run", get_or_train(cfg)))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "get_or_train must wait for the process holding the run's lock"
        (finished.path / "metrics.json").write_bytes(metrics)  # the other process finishes
    waiter.join(timeout=30)
    assert result["run"].done and count_training == [cfg.config_hash()]
