"""LEAD's beta convention against the authors' data-parallel training, run for real (two gloo
processes): each process sums the reference KD over its half of the batch and DDP averages the
gradients; one fgkd process on the whole batch with reference_beta_to_fgkd's beta gets the same
gradient."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from fgkd.losses import info_nce, lead_loss, reference_beta_to_fgkd

WORLD, N, D, K, C = 2, 8, 5, 7, 6  # N: the global batch
BETA_REF, ALPHA, TAU, T = 20.0, 0.5, 0.27, 0.5


def _batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    k = F.normalize(torch.randn(N, D, generator=g, dtype=torch.float64), dim=1)
    queue = F.normalize(torch.randn(K, D, generator=g, dtype=torch.float64), dim=1)
    protos = F.normalize(torch.randn(C, D, generator=g, dtype=torch.float64), dim=1)
    p_t = torch.softmax(3 * torch.randn(N, C, generator=g, dtype=torch.float64), dim=1)
    w = torch.eye(D, dtype=torch.float64) + 0.1 * torch.randn(D, D, generator=g, dtype=torch.float64)
    return x, k, queue, protos, p_t, w


def _reference_loss(q, k, queue, protos, p_t):
    """LEAD-pp per process: entropy weights, contrastive a batch mean, KD KLDivLoss(reduction none)
    averaged over the classes, times w_kd and beta, SUMMED over the process's samples."""
    h = -(p_t * p_t.log()).sum(1) / torch.log(torch.tensor(float(C), dtype=torch.float64))
    w_cl, w_kd = h**2, 1 - h**2
    contrastive = (info_nce(q, k, queue, TAU) * ALPHA * w_cl).mean()
    log_p_s = torch.log_softmax(F.normalize(q, dim=1) @ protos.T / T, dim=1)
    kd = (torch.nn.KLDivLoss(reduction="none")(log_p_s, p_t).mean(1) * w_kd * BETA_REF).sum()
    return contrastive + kd


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        x, k, queue, protos, p_t, w = _batch()
        part = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        w = w.clone().requires_grad_()
        q = F.normalize(x[part] @ w, dim=1)
        _reference_loss(q, k[part], queue, protos, p_t[part]).backward()
        dist.all_reduce(w.grad)  # what DDP does: the mean of the processes' gradients
        w.grad /= WORLD
        torch.save(w.grad, f"{out_dir}/grad{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_reference_beta_over_two_processes_equals_fgkd_beta_on_one(tmp_path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.start_processes(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True,
                       start_method="fork")
    reference = torch.load(tmp_path / "grad0.pt")
    assert torch.equal(reference, torch.load(tmp_path / "grad1.pt"))

    x, k, queue, protos, p_t, w = _batch()
    w = w.clone().requires_grad_()
    q = F.normalize(x @ w, dim=1)
    beta = reference_beta_to_fgkd(BETA_REF, N, C, world_size=WORLD)
    lead_loss(q, k, queue, q, p_t, protos, alpha=ALPHA, beta=beta, moco_temperature=TAU,
              category_temperature=T)["total"].backward()
    assert torch.allclose(w.grad, reference, rtol=1e-10, atol=1e-12)
    # the one-process reading (beta_ref * N / C) is twice too strong here
    wrong = reference_beta_to_fgkd(BETA_REF, N, C)
    assert wrong == pytest.approx(2 * beta)


def test_the_authors_setting_on_cub_is_3_2():
    assert reference_beta_to_fgkd(20, 64, 200, world_size=2) == pytest.approx(3.2)
    assert reference_beta_to_fgkd(20, 64, 200) == pytest.approx(6.4)
    assert reference_beta_to_fgkd(20, 64, 100, world_size=2) == pytest.approx(6.4)  # FGVC-Aircraft
    with pytest.raises(ValueError, match="split evenly"):
        reference_beta_to_fgkd(20, 63, 200, world_size=2)


def test_a_run_derives_its_beta_from_the_reference_and_its_categories():
    from fgkd.methods import LeadConfig

    plain = LeadConfig(dataset="world:bird")
    ref = plain.replace(beta_reference=20.0, beta_world_size=2)
    assert plain.kd_beta(200) == plain.beta  # no reference: beta as given
    assert ref.kd_beta(200) == pytest.approx(3.2) and ref.kd_beta(250) == pytest.approx(2.56)  # Figure 3's C
    assert ref.kd_beta(200, world_size=2) == pytest.approx(6.4)  # a 2-process fgkd run has a global batch of 128
    # beta is not read then, so it does not split runs; the new fields leave other runs' keys alone
    assert ref.replace(beta=1.0).config_hash() == ref.config_hash()
    assert "beta_reference" not in plain.hash_dict() and ref.config_hash() != plain.config_hash()
