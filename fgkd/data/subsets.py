"""Stratified, nested subsets of labelled datasets (MaKD's "less training data" study, Table 5).

Each class's items are put in one fixed random order that depends only on ``(seed, class)``; a
subset of fraction ``f`` keeps the first ``max(1, round(f * n_c))`` items of every class ``c``.
Because the order does not depend on ``f``, subsets are nested: for one seed the 40 % subset is
inside the 80 % subset.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset, Subset

# Per-item fields sliced along with the items when a dataset does not declare `per_item_fields`.
DEFAULT_PER_ITEM_FIELDS = ("images", "attributes", "captions")


def class_permutations(targets: Sequence[int], seed: int = 0) -> dict[int, np.ndarray]:
    """Item indices of each class in a random order fixed by ``(seed, class)``.

    Returns ``{class: int64 array of the class's item indices, shuffled}``. Seeding each class on
    its own keeps the order of one class unchanged when other classes gain or lose items.
    """
    targets = np.asarray(targets, dtype=np.int64)
    orders = {}
    for c in np.unique(targets):
        members = np.flatnonzero(targets == c)
        orders[int(c)] = np.random.default_rng([seed, int(c)]).permutation(members)
    return orders


def per_class_count(fraction: float, n: int) -> int:
    """How many of a class's ``n`` items a ``fraction`` subset keeps: ``max(1, round(f * n))``."""
    # floor(x + 0.5) rounds halves up (Python's round() rounds them to even, which is not monotone
    # in n and so would break nesting in rare ties).
    return min(n, max(1, math.floor(fraction * n + 0.5)))


class LabeledSubset(Subset):
    """A ``Subset`` that keeps the dataset contract: ``classes`` and ``targets``.

    Per-item fields of the parent (its ``per_item_fields``, else ``images``, ``attributes``, ``captions``)
    are sliced to the kept items; any other attribute (``world``, ``attribute_names``...) is read
    from the parent.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        super().__init__(dataset, [int(i) for i in indices])
        parent_targets = dataset.targets
        self.classes = list(dataset.classes)
        self.targets = [int(parent_targets[i]) for i in self.indices]
        self.per_item_fields = tuple(getattr(dataset, "per_item_fields", DEFAULT_PER_ITEM_FIELDS))

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally; guard the ones Subset sets itself so a
        # half-built object (e.g. during unpickling) cannot recurse forever.
        if name in ("dataset", "indices", "per_item_fields") or name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self.dataset, name)
        if name in self.per_item_fields and value is not None:
            if isinstance(value, np.ndarray):
                return value[np.asarray(self.indices, dtype=np.int64)]
            return [value[i] for i in self.indices]
        return value


def stratified_subset(dataset: Dataset, fraction: float, seed: int = 0) -> LabeledSubset:
    """Keep ``fraction`` of every class of ``dataset`` (which needs ``classes`` and ``targets``).

    Args:
        dataset: a dataset following the fgkd contract.
        fraction: in (0, 1]; every class keeps ``max(1, round(fraction * n_c))`` of its ``n_c`` items.
        seed: fixes each class's order; subsets with one seed are nested across fractions.

    Returns:
        A :class:`LabeledSubset` whose items keep the parent's order.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    for attribute in ("classes", "targets"):
        if not hasattr(dataset, attribute):
            raise TypeError(f"stratified_subset needs a dataset with `{attribute}`; "
                            f"{type(dataset).__name__} has none.")
    orders = class_permutations(dataset.targets, seed).values()
    kept = [order[: per_class_count(fraction, len(order))] for order in orders]
    indices = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    return LabeledSubset(dataset, indices.tolist())
