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
    cfg, path = _config_file(tmp_path)
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
