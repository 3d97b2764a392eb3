"""A run's view of its dataset, shared by every method: its splits, its cache identity, unlabelled.

Every run config has ``dataset``, ``dataset_options`` and ``data_root``; these helpers read them.
"""

from __future__ import annotations

from typing import Any, Callable

from torch.utils.data import Dataset


def load_split(cfg: Any, split: str, transform: Callable | None = None):
    """``split`` of the run's dataset (``fgkd.data.get_dataset``), PIL images unless ``transform``."""
    from fgkd.data import get_dataset

    return get_dataset(cfg.dataset, root=cfg.data_root, split=split, transform=transform, **cfg.dataset_options)


def dataset_id(cfg: Any) -> str:
    """Names a dataset with its options for caches keyed on images (teacher outputs, P(yes))."""
    from fgkd.io import stable_hash

    return f"{cfg.dataset}-{stable_hash(cfg.dataset_options, 8)}" if cfg.dataset_options else cfg.dataset


class Unlabelled(Dataset):
    """A dataset seen without its ``classes``: the teacher is scored against the run's categories,
    which may differ from the classes (Figure 3), so ``teacher_outputs`` must not compare the two."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


class Transformed(Dataset):
    """``(transform(image), target)`` over a dataset of PIL images: one decoded source serves a
    scorer (PIL images) and a classifier (tensors)."""

    def __init__(self, dataset: Any, transform: Callable) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, target = self.dataset[i]
        return self.transform(image), target
