"""benchmarks/gpu_check.py --dry-run: every section of the GPU check runs on CPU at toy sizes."""

import json

import pytest


@pytest.mark.slow
def test_gpu_check_dry_run_writes_every_section(tmp_path, load_repo_script):
    out = tmp_path / "gpu_check.json"
    assert load_repo_script("benchmarks/gpu_check.py").main(["--dry-run", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["device"] == "cpu" and result["matmul"]["flops"] > 0
    training = result["training"]["images_per_second"]
    assert set(training) == {"MoCo v2", "LEAD, online teacher", "LEAD, cached teacher"}
    assert all(v > 0 for v in training.values()) and 0 < result["training"]["moco_fraction_of_matmul"]
    assert result["clip_encode"]["images_per_second"] > 0
    vlm = result["vlm"]
    assert vlm["naive_pairs_per_second"] > 0 and vlm["batched_pairs_per_second"] > 0
    assert vlm["max_abs_diff"] < 1e-4  # the two paths score the same


def test_gpu_check_without_a_gpu_says_so(load_repo_script, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="no CUDA device.*--dry-run"):
        load_repo_script("benchmarks/gpu_check.py").main([])
