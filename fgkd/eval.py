"""Evaluation of frozen representations (LEAD supplement, section 10), DINO style: extract features
once, then pure functions on tensors.

- ``linear_probe``: a linear classifier trained on frozen features -> Top-1/Top-5 (fgkd's fast
  protocol or LEAD-pp's; final, best-on-test and validation-selected epochs).
- ``topk_accuracy`` / ``class_accuracy``: Top-k of a classifier's logits (MaKD: class logits only).
- ``retrieval_metrics``: each test image queries all others by cosine similarity (leave-one-out,
  no training) -> Rank-1, Rank-5, mAP.

All metrics are in percent. Caching features is the run store's job, not this module's.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, topk: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy in percent, ``{"top1": ..., "top5": ...}``; k larger than C counts as C."""
    num_classes = logits.shape[1]
    kmax = min(max(topk), num_classes)
    pred = logits.topk(kmax, dim=1).indices  # [N, kmax]
    hit = pred == labels.view(-1, 1)  # [N, kmax]
    return {f"top{k}": 100.0 * hit[:, : min(k, num_classes)].any(1).double().mean().item() for k in topk}


@torch.no_grad()
def class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int,
                   topk: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy (percent) on the C class logits only; MaKD's aspect logits never compete."""
    if not 1 <= num_classes <= logits.shape[1]:
        raise ValueError(f"num_classes must be in [1, {logits.shape[1]}] for logits {tuple(logits.shape)}, "
                         f"got {num_classes}")
    return topk_accuracy(logits[:, :num_classes], labels, topk)


@torch.no_grad()
def extract_features(
    model_or_fn: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    dataset: Dataset,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[N, F]`` (float32, CPU) and labels ``[N]`` (int64) of a dataset of (image tensor, target).

    A module with an ``encode`` method (MoCo, SimCLR, IBOT, AspectClassifier) is called through it,
    any other module or function directly. A module is put in eval mode while extracting and its
    previous mode is restored afterwards.
    """
    fn = getattr(model_or_fn, "encode", model_or_fn)
    module = model_or_fn if isinstance(model_or_fn, nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    feats, labels = [], []
    try:
        for images, targets in loader:
            if not torch.is_tensor(images):
                raise TypeError(f"dataset images must be tensors, got {type(images).__name__}; build the dataset "
                                "with a transform that ends in ToTensor")
            feats.append(fn(images.to(device)).float().cpu())  # [B, F]
            labels.append(torch.as_tensor(targets).long())
    finally:
        if module is not None:
            module.train(was_training)
    if not feats:
        raise ValueError("the dataset is empty")
    return torch.cat(feats), torch.cat(labels)


PROBE_NORMALISATIONS = ("standardise", "l2")
PROBE_SCHEDULES = ("cosine", "steps")


def linear_probe(
    train_features: torch.Tensor | Callable[[int], torch.Tensor],
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    batch_size: int | None = 256,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    num_classes: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    normalise: str = "standardise",
    schedule: str = "cosine",
    milestones: tuple[float, ...] = (0.6, 0.8),
    val_features: torch.Tensor | None = None,
    val_labels: torch.Tensor | None = None,
) -> dict[str, float]:
    """Top-1/Top-5 (percent) of a linear classifier trained on frozen features.

    Two protocols:

    - fgkd's fast one (the defaults): features standardised with the training mean and standard
      deviation (so one learning rate suits every backbone), SGD + momentum with a cosine schedule
      per step, the same features every epoch.
    - LEAD-pp's ``linear_probing.py``: ``normalise="l2"`` (unit-norm features), ``lr=30``,
      ``batch_size=256``, ``schedule="steps"`` (lr x 0.1 at ``milestones`` of the epochs: 60 and 80
      of 100), and ``train_features`` a callable ``epoch -> [N_train, F]`` that encodes a fresh
      RandomResizedCrop + flip view of every training image each epoch.

    Returned: ``top1``/``top5`` of the final epoch; ``top1_best``/``top5_best`` and ``best_epoch``:
    the best test Top-1 over the epochs, which is what LEAD-pp and MoCo's ``main_lincls`` report
    (a choice made on the test set); with ``val_features``/``val_labels`` (held out of training),
    ``top1_selected``/``top5_selected`` and ``selected_epoch``: the test accuracy at the epoch of
    the best validation Top-1, an honest model selection. Deterministic for a given seed.

    Args:
        train_features, test_features: [N_train, F] (or a callable, above), [N_test, F].
        train_labels, test_labels: [N_train], [N_test] int class indices.
        num_classes: C (default: 1 + the largest label seen).
    """
    if normalise not in PROBE_NORMALISATIONS or schedule not in PROBE_SCHEDULES:
        raise ValueError(f"normalise must be one of {PROBE_NORMALISATIONS} and schedule one of "
                         f"{PROBE_SCHEDULES}, got {normalise!r} and {schedule!r}")
    if epochs < 1 or lr <= 0:
        raise ValueError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    features_of = train_features if callable(train_features) else (lambda epoch: train_features)
    first = features_of(0)
    if first.shape[0] != train_labels.shape[0] or test_features.shape[0] != test_labels.shape[0]:
        raise ValueError("features and labels must have the same number of rows")
    if first.shape[1] != test_features.shape[1]:
        raise ValueError(f"train and test features differ in dimension: {first.shape[1]} vs "
                         f"{test_features.shape[1]}")
    if (val_features is None) != (val_labels is None):
        raise ValueError("give both val_features and val_labels, or neither")
    c = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    if normalise == "standardise":
        x0 = first.float().to(device)
        mean, std = x0.mean(0), x0.std(0).clamp(min=1e-6)

        def prepare(x: torch.Tensor) -> torch.Tensor:
            return (x.float().to(device) - mean) / std
    else:
        def prepare(x: torch.Tensor) -> torch.Tensor:
            return F.normalize(x.float().to(device), dim=1)

    fixed = None if callable(train_features) else prepare(first)  # [N_train, F], the same every epoch
    x_test = prepare(test_features)  # [N_test, F]
    x_val = prepare(val_features) if val_features is not None else None
    y_train = train_labels.long().to(device)

    gen = torch.Generator().manual_seed(seed)
    head = nn.Linear(first.shape[1], c).to(device)
    with torch.no_grad():  # seeded init independent of the global RNG
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.01)
        head.bias.zero_()
    n = first.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    steps_per_epoch = -(-n // bs)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    else:  # per epoch, as linear_probing.py's adjust_learning_rate
        steps = sorted({max(1, round(m * epochs)) for m in milestones})
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[s * steps_per_epoch for s in steps], gamma=0.1)
    test_y = test_labels.long().cpu()
    best = {"top1": -1.0}
    selected, best_val = {}, -1.0
    final: dict[str, float] = {}
    for epoch in range(epochs):
        if fixed is not None:
            x_train = fixed
        else:  # a fresh augmented view of every training image each epoch
            x_train = prepare(first if epoch == 0 else features_of(epoch))
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(head(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            final = topk_accuracy(head(x_test).cpu(), test_y, (1, 5))  # [N_test, C] -> percent
            if final["top1"] > best["top1"]:  # the first epoch reaching the best keeps it
                best = {**final, "epoch": epoch + 1}
            if x_val is not None:
                val = topk_accuracy(head(x_val).cpu(), val_labels.long().cpu(), (1,))["top1"]
                if val > best_val:
                    best_val, selected = val, {**final, "epoch": epoch + 1, "val_top1": val}
    out = {"top1": final["top1"], "top5": final["top5"], "top1_best": best["top1"], "top5_best": best["top5"],
           "best_epoch": float(best["epoch"])}
    if selected:
        out.update(top1_selected=selected["top1"], top5_selected=selected["top5"],
                   selected_epoch=float(selected["epoch"]), val_top1=selected["val_top1"])
    return out


@torch.no_grad()
def knn_classifier(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                   test_labels: torch.Tensor, *, k: int = 20, temperature: float = 0.07,
                   num_classes: int | None = None, chunk_size: int = 1024) -> dict[str, float]:
    """Weighted k-nearest-neighbour Top-1/Top-5 (percent) on frozen features, as DINO's
    ``knn_classifier``: cosine similarity to the ``k`` nearest training features, each neighbour
    voting ``exp(sim / temperature)`` for its class. No training: the cheap check beside the probe.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    train = F.normalize(train_features.float(), dim=1)  # [N, D]
    test = F.normalize(test_features.float(), dim=1)  # [M, D]
    c = int(num_classes if num_classes is not None else max(int(train_labels.max()), int(test_labels.max())) + 1)
    k = min(k, len(train))
    votes = []
    for start in range(0, len(test), chunk_size):
        sim = test[start:start + chunk_size] @ train.T  # [m, N]
        top, idx = sim.topk(k, dim=1)  # [m, k]
        weights = (top / temperature).exp()  # [m, k]
        scores = torch.zeros(len(top), c).scatter_add_(1, train_labels[idx].long(), weights)  # [m, C]
        votes.append(scores)
    return topk_accuracy(torch.cat(votes), test_labels.long(), (1, 5))

@torch.no_grad()
def retrieval_metrics(features: torch.Tensor, labels: torch.Tensor, chunk_size: int = 1024) -> dict[str, float]:
    """Leave-one-out retrieval by cosine similarity: ``{"R-1", "R-5", "mAP"}`` in percent.

    Each item queries all others, ranked by cosine similarity. R-k: share of queries with an item of
    their class among the k nearest; mAP: mean over queries of average precision,
    ``AP = (1 / |rel|) sum_{r: rank r relevant} precision@r``. Queries whose class has no other item
    have no relevant answer and are left out of all three. Vectorised over blocks of
    ``chunk_size`` queries to bound memory at ``chunk_size x N``.

    Args:
        features: [N, F]; labels: [N].
    """
    n = features.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"labels must be [N] = [{n}], got {tuple(labels.shape)}")
    if n < 2:
        raise ValueError("retrieval needs at least 2 items")
    z = F.normalize(features.float(), dim=1)  # [N, F]
    labels = labels.to(z.device)
    r1, r5, ap = [], [], []
    for start in range(0, n, chunk_size):
        q = torch.arange(start, min(start + chunk_size, n), device=z.device)  # [B] query indices
        sim = z[q] @ z.T  # [B, N]
        sim[torch.arange(len(q)), q] = float("-inf")  # a query never retrieves itself
        order = sim.argsort(dim=1, descending=True)[:, : n - 1]  # [B, N-1] gallery ranking, self excluded
        rel = labels[order] == labels[q].unsqueeze(1)  # [B, N-1] relevance in rank order
        num_rel = rel.sum(1)  # [B]
        keep = num_rel > 0
        rel, num_rel = rel[keep].float(), num_rel[keep].float()
        ranks = torch.arange(1, n, device=z.device, dtype=torch.float32)  # [N-1]
        precision = rel.cumsum(1) / ranks  # [B', N-1] precision@r
        ap.append((precision * rel).sum(1) / num_rel)
        r1.append(rel[:, :1].amax(1))
        r5.append(rel[:, :5].amax(1))
    ap_all = torch.cat(ap)
    if ap_all.numel() == 0:
        raise ValueError("no query has another item of its class; retrieval metrics are undefined")
    return {
        "R-1": 100.0 * torch.cat(r1).mean().item(),
        "R-5": 100.0 * torch.cat(r5).mean().item(),
        "mAP": 100.0 * ap_all.mean().item(),
    }
