"""Evaluation of frozen representations (LEAD supplement, section 10), DINO style: extract features
once, then pure functions on tensors.

- ``linear_probe``: a linear classifier trained on frozen, standardised features -> Top-1/Top-5.
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


def linear_probe(
    train_features: torch.Tensor,
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
) -> dict[str, float]:
    """Top-1/Top-5 (percent) of a linear classifier trained on frozen features.

    Features are standardised with the training mean and standard deviation (so one learning rate
    suits every backbone); the classifier is trained with SGD + momentum and a cosine learning-rate
    schedule on cross-entropy. ``batch_size=None`` is full-batch. Deterministic for a given seed.

    Args:
        train_features, test_features: [N_train, F], [N_test, F].
        train_labels, test_labels: [N_train], [N_test] int class indices.
        num_classes: C (default: 1 + the largest label seen).
    """
    if train_features.shape[0] != train_labels.shape[0] or test_features.shape[0] != test_labels.shape[0]:
        raise ValueError("features and labels must have the same number of rows")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"train and test features differ in dimension: {train_features.shape[1]} vs "
                         f"{test_features.shape[1]}")
    if epochs < 1 or lr <= 0:
        raise ValueError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    c = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    x_train = train_features.float().to(device)
    mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    x_train = (x_train - mean) / std  # [N_train, F]
    x_test = (test_features.float().to(device) - mean) / std  # [N_test, F]
    y_train = train_labels.long().to(device)

    gen = torch.Generator().manual_seed(seed)
    head = nn.Linear(x_train.shape[1], c).to(device)
    with torch.no_grad():  # seeded init independent of the global RNG
        head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.01)
        head.bias.zero_()
    n = x_train.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    steps_per_epoch = -(-n // bs)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(head(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        logits = head(x_test)  # [N_test, C]
    return topk_accuracy(logits.cpu(), test_labels.long().cpu(), (1, 5))



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
