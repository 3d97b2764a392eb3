import numpy as np
import pytest
from torch.utils.data import Dataset

from fgkd.data import LabeledSubset, stratified_subset
from fgkd.data.subsets import class_permutations, per_class_count


class Toy(Dataset):
    """Items (index, target); class c has 10 + 3c items, interleaved; per-item `attributes`."""

    def __init__(self, num_classes=4):
        self.targets = [c for c in range(num_classes) for _ in range(10 + 3 * c)]
        np.random.default_rng(0).shuffle(self.targets)
        self.classes = [f"class {c}" for c in range(num_classes)]
        self.attributes = np.arange(len(self.targets) * 2).reshape(-1, 2)
        self.captions = [f"caption {i}" for i in range(len(self.targets))]
        self.world = "shared"

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return index, self.targets[index]


def test_every_class_keeps_its_fraction():
    ds = Toy()
    subset = stratified_subset(ds, 0.4, seed=0)
    counts = np.bincount(subset.targets)
    assert counts.tolist() == [per_class_count(0.4, n) for n in np.bincount(ds.targets)] == [4, 5, 6, 8]
    assert subset.classes == ds.classes
    assert subset.targets == [ds.targets[i] for i in subset.indices]
    assert [subset[k] for k in range(len(subset))] == [ds[i] for i in subset.indices]
    assert subset.indices == sorted(subset.indices)  # parent order kept


def test_subsets_are_nested_across_fractions():
    ds = Toy()
    sets = [set(stratified_subset(ds, f, seed=3).indices) for f in (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)]
    for small, large in zip(sets, sets[1:]):
        assert small <= large
    assert sets[-1] == set(range(len(ds)))


def test_seed_changes_the_subset_and_fixes_it():
    ds = Toy()
    assert stratified_subset(ds, 0.5, seed=0).indices == stratified_subset(ds, 0.5, seed=0).indices
    assert stratified_subset(ds, 0.5, seed=0).indices != stratified_subset(ds, 0.5, seed=1).indices


def test_small_classes_keep_at_least_one_item():
    assert per_class_count(0.01, 10) == 1
    assert per_class_count(0.25, 10) == 3  # halves round up
    assert per_class_count(1.0, 7) == 7


def test_per_item_fields_are_sliced_and_others_shared():
    ds = Toy()
    subset = stratified_subset(ds, 0.3, seed=0)
    np.testing.assert_array_equal(subset.attributes, ds.attributes[subset.indices])
    assert subset.captions == [ds.captions[i] for i in subset.indices]
    assert subset.world == "shared"
    nested = stratified_subset(subset, 0.5, seed=0)  # a subset of a subset keeps the contract
    assert isinstance(nested, LabeledSubset)
    assert nested.captions == [subset.captions[i] for i in nested.indices]


def test_class_permutations_cover_each_class_once():
    targets = [0, 1, 0, 2, 1, 0]
    orders = class_permutations(targets, seed=0)
    assert {c: sorted(o.tolist()) for c, o in orders.items()} == {0: [0, 2, 5], 1: [1, 4], 2: [3]}


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, "0.5", None, True])
def test_bad_fraction_is_rejected(bad):
    with pytest.raises(ValueError, match="fraction"):
        stratified_subset(Toy(), bad)


def test_dataset_without_targets_is_rejected():
    class NoTargets(Dataset):
        classes = ["a"]

    with pytest.raises(TypeError, match="targets"):
        stratified_subset(NoTargets(), 0.5)
