import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train_fakes import lead_config

HERE = Path(__file__).parent


def _config_file(tmp_path, **overrides):
    cfg = lead_config(**{"method": "moco", "epochs": 2, "batch_size": 4, "queue_size": 16, **overrides})
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.record()))
    return cfg, path


@pytest.mark.slow
def test_torchrun_two_cpu_processes_end_in_step(tmp_path):
    """Two gloo ranks (MoCo: shuffle-BN and key all-gather across ranks) train, evaluate once and end
    with bit-identical weights (the engine compares SHA-256 digests of every rank's state)."""
    cfg, path = _config_file(tmp_path, world_size=2)
    env = {**os.environ, "FGKD_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(HERE / "ddp_main.py"), "--config", str(path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "cache" / "runs" / "moco" / cfg.config_hash()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    digests = metrics["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    # the stored weights are the ones the ranks agreed on
    from fgkd.train.ddp import state_digest
    from fgkd.methods import method_class

    module = method_class(cfg).build_module(cfg)
    module.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    assert state_digest(module) == digests[0]
    printed = json.loads(done.stdout[done.stdout.index("{"):])
    assert printed["run"] == str(run_dir)


def test_single_process_cli(tmp_path, capsys, monkeypatch):
    from fgkd.train.__main__ import main

    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "cache"))
    cfg, path = _config_file(tmp_path, epochs=1)
    assert main(["--config", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["world_size"] == 1 and out["run"].endswith(cfg.config_hash())


def test_yaml_config_and_family_flag(tmp_path):
    import yaml

    from fgkd.train.__main__ import read_config_file
    from fgkd.methods import config_from_dict

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"epochs": 8, "dataset": "world:bird"}))
    data = read_config_file(path)
    data.setdefault("family", "makd")
    assert config_from_dict(data).lr_milestones == (5, 6, 7)
    with pytest.raises(FileNotFoundError):
        read_config_file(tmp_path / "missing.json")


def test_state_digest_sees_any_change():
    from fgkd.train.ddp import state_digest

    module = torch.nn.Linear(3, 2)
    before = state_digest(module)
    with torch.no_grad():
        module.bias[0] += 1e-7
    assert state_digest(module) != before


def test_the_process_count_is_part_of_the_run_key():
    one = lead_config(method="moco", batch_size=4)
    two = one.replace(world_size=2)
    assert one.config_hash() != two.config_hash()
    assert "world_size" not in one.hash_dict()  # one process keeps the keys runs were stored under
    assert two.hash_dict()["global_batch_size"] == 8
    assert two.replace(batch_size=2).hash_dict()["global_batch_size"] == 4


def test_a_run_keyed_for_two_processes_refuses_one(tmp_path, monkeypatch):
    from fgkd.methods import make_method
    from fgkd.train.engine import train

    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "cache"))
    cfg = lead_config(method="moco", epochs=1, batch_size=4, queue_size=16, world_size=2)
    with pytest.raises(ValueError, match="keyed for world_size=2 .* 1 are training it.*torchrun --nproc-per-node 2"):
        train(make_method(cfg), tmp_path / "run")


@pytest.mark.slow
def test_a_single_process_asking_for_a_two_process_run_trains_it_under_torchrun(tmp_path, monkeypatch, capsys):
    import fgkd.runs as runs

    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(runs, "TORCHRUN_TARGET", [str(HERE / "ddp_main.py")])
    cfg = lead_config(method="moco", epochs=1, batch_size=4, queue_size=16, world_size=2)
    run = runs.get_or_train(cfg)
    assert run.done and run.metrics["world_size"] == 2 and len(run.metrics["rank_digests"]) == 2
    assert '"metrics"' in capsys.readouterr().out  # the processes' output is shown
    one = runs.get_or_train(cfg.replace(world_size=1))
    assert one.path != run.path and one.metrics["world_size"] == 1



@pytest.mark.slow
def test_under_torchrun_makd_scores_each_image_once_and_the_test_split_before_evaluation(tmp_path):
    from train_fakes import makd_config, write_llm_files

    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = makd_config(epochs=1, batch_size=4, world_size=2, llm_options=write_llm_files(tmp_path),
                      scorer="fake_counting", scorer_options={"log_dir": str(logs)})
    path = tmp_path / "makd.json"
    path.write_text(json.dumps(cfg.record()))
    env = {**os.environ, "FGKD_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(HERE / "ddp_main.py"), "--config", str(path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    calls = {rank: [tuple(map(int, line.split())) for line in (logs / f"rank{rank}.txt").read_text().splitlines()]
             for rank in (0, 1)}
    # train (32 blobs) and test (32 blobs): each rank scored half of each split, once; nothing at evaluation
    assert calls[0] == [(16, 0), (16, 0)] and calls[1] == [(16, 16), (16, 16)]
    metrics = json.loads((tmp_path / "cache" / "runs" / "makd" / cfg.config_hash() / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and "aspect_agreement" in metrics
    assert len(list((tmp_path / "cache" / "aspects").glob("*.npz"))) == 2  # train and test, written once
