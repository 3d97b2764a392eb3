"""Shuffle-BN and the key all-gather, run for real with two CPU processes (gloo)."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from fgkd.models import MoCo

WORLD, N, DIM, K = 2, 3, 4, 12


def _images(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(N, 3, 6, 6, generator=g), torch.randn(N, 3, 6, 6, generator=g)


def _model() -> MoCo:
    torch.manual_seed(0)  # identical replicas on every rank, as DDP guarantees
    # no BatchNorm anywhere: keys depend on their own image only, so they can be checked exactly
    backbone = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return MoCo(backbone, feature_dim=5, dim=DIM, hidden_dim=6, queue_size=K, momentum=0.5, head="mocov2")


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)  # no OpenMP pool in a forked child
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(rank)  # different local RNGs: the shuffle must come from rank 0's broadcast
        model = _model().train()
        im_q, im_k = _images(rank)
        old_queue = model.queue.clone()
        out = model(im_q, im_k)
        expected_k = nn.functional.normalize(model.encoder_k(im_k), dim=1)  # after the EMA, no shuffle
        torch.save({"k": out.k, "expected_k": expected_k, "queue": model.queue, "old_queue": old_queue,
                    "returned_queue": out.queue, "ptr": int(model.queue_ptr)}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_shuffle_bn_and_gathered_enqueue_with_two_processes(tmp_path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    # fork: the workers inherit the imported modules instead of importing torch again
    mp.start_processes(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True,
                       start_method="fork")
    r = [torch.load(tmp_path / f"rank{i}.pt") for i in range(WORLD)]
    for res in r:
        assert torch.allclose(res["k"], res["expected_k"], atol=1e-6)  # unshuffle restores each rank's keys
        assert torch.equal(res["returned_queue"], res["old_queue"])
        assert res["ptr"] == WORLD * N
    assert torch.equal(r[0]["queue"], r[1]["queue"])  # every rank enqueues the same gathered keys
    gathered = torch.cat([r[0]["k"], r[1]["k"]])
    assert torch.allclose(r[0]["queue"][: WORLD * N], gathered, atol=1e-6)
    assert torch.equal(r[0]["queue"][WORLD * N:], r[0]["old_queue"][WORLD * N:])
