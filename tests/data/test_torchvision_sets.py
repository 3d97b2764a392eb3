import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fakes.py sits beside this file
from fakes import (  # noqa: E402
    class_color,
    make_fake_caltech101,
    make_fake_dtd,
    make_fake_fgvc_aircraft,
    make_fake_oxford_pets,
    make_fake_stanford_cars,
)

from fgkd.data import DatasetNotFoundError, get_dataset  # noqa: E402
from fgkd.data.torchvision_sets import SPECS, TorchvisionDataset  # noqa: E402

TORCHVISION_NAMES = ["stanford_cars", "fgvc_aircraft", "oxford_pets", "flowers102", "dtd", "caltech101"]


def assert_items_follow_contract(ds):
    assert len(ds.targets) == len(ds)
    for index in range(len(ds)):
        image, target = ds[index]
        assert image.mode == "RGB" and image.size == (8, 8)
        assert isinstance(target, int) and target == ds.targets[index]


def test_dtd_train_is_train_plus_val(tmp_path):
    listed = make_fake_dtd(tmp_path)
    train = get_dataset("dtd", root=tmp_path, split="train")
    test = get_dataset("dtd", root=tmp_path, split="test")
    assert isinstance(train, TorchvisionDataset)
    assert train.classes == test.classes == ["banded", "braided", "zigzagged"]
    expected = [train.classes.index(c) for c, _ in listed["train"] + listed["val"]]
    assert train.targets == expected
    assert test.targets == [test.classes.index(c) for c, _ in listed["test"]]
    assert_items_follow_contract(train)
    # each item is the image listed at its position (class colours differ)
    image, target = train[len(listed["train"])]  # the first val item
    assert np.allclose(np.asarray(image).reshape(-1, 3).mean(0), class_color(target), atol=12)


def test_dtd_partition_option(tmp_path):
    make_fake_dtd(tmp_path, partition=3, per_split={"train": 1, "val": 1, "test": 2})
    assert len(get_dataset("dtd", root=tmp_path, split="test", partition=3)) == 6
    with pytest.raises(DatasetNotFoundError, match="test1.txt"):
        get_dataset("dtd", root=tmp_path, split="test")  # partition 1 files are absent
    with pytest.raises(ValueError, match="partition"):
        get_dataset("dtd", root=tmp_path, partition=11)


def test_fgvc_aircraft_train_is_trainval(tmp_path):
    listed = make_fake_fgvc_aircraft(tmp_path)
    train = get_dataset("fgvc_aircraft", root=tmp_path, split="train")
    test = get_dataset("fgvc_aircraft", root=tmp_path, split="test")
    assert train.classes == ["707-320", "A320", "Cessna 172"]
    assert train.targets == [c for _, c in listed["trainval"]]
    assert test.targets == [c for _, c in listed["test"]]
    assert_items_follow_contract(test)


def test_oxford_pets_classes_are_breed_names(tmp_path):
    make_fake_oxford_pets(tmp_path)
    train = get_dataset("oxford_pets", root=tmp_path, split="train")
    assert train.classes == ["Abyssinian", "American Bulldog"]
    assert train.targets == [0, 0, 1, 1]
    assert len(get_dataset("oxford_pets", root=tmp_path, split="test")) == 2
    assert_items_follow_contract(train)


def test_stanford_cars_reads_the_mat_annotations(tmp_path):
    make_fake_stanford_cars(tmp_path, per_split=2)
    for split in ("train", "test"):
        ds = get_dataset("stanford_cars", root=tmp_path, split=split)
        assert ds.classes == ["AM General Hummer SUV 2000", "Acura RL Sedan 2012"]
        assert ds.targets == [0, 0, 1, 1]
        assert_items_follow_contract(ds)


def test_caltech101_split_is_stratified_disjoint_and_seeded(tmp_path):
    counts = make_fake_caltech101(tmp_path)
    train = get_dataset("caltech101", root=tmp_path, split="train", train_per_class=2)
    test = get_dataset("caltech101", root=tmp_path, split="test", train_per_class=2)
    assert train.classes == ["Faces easy", "accordion", "yin yang"]  # BACKGROUND_Google dropped
    assert np.bincount(train.targets).tolist() == [2, 2, 2]
    assert np.bincount(test.targets).tolist() == [n - 2 for n in counts.values()]
    train_items, test_items = set(train._items), set(test._items)
    assert not train_items & test_items and len(train_items | test_items) == sum(counts.values())
    assert_items_follow_contract(train)
    assert_items_follow_contract(test)  # the greyscale accordion image comes back RGB

    again = get_dataset("caltech101", root=tmp_path, split="train", train_per_class=2)
    assert again._items == train._items
    seeds = {tuple(get_dataset("caltech101", root=tmp_path, train_per_class=2, split_seed=s)._items)
             for s in range(6)}
    assert len(seeds) > 1
    bigger = get_dataset("caltech101", root=tmp_path, split="train", train_per_class=3)
    assert train_items < set(bigger._items)  # nested across train_per_class


def test_caltech101_needs_test_images_in_every_class(tmp_path):
    make_fake_caltech101(tmp_path)
    with pytest.raises(ValueError, match="'Faces_easy' has 4 images"):
        get_dataset("caltech101", root=tmp_path, train_per_class=4)


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_missing_dataset_names_layout_and_source_and_creates_nothing(tmp_path, monkeypatch, name):
    def no_network(*args, **kwargs):
        raise AssertionError("a dataset loader tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    root = tmp_path / "absent"
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset(name, root=root)
    message = str(info.value)
    spec = SPECS[name]
    assert f"'{name}'" in message and f"<root>/{spec.folder}/" in message
    assert "Expected layout" in message and "https://" in message
    assert not root.exists()  # torchvision's Caltech101 would have created root/caltech101


def test_default_root_is_under_fgkd_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FGKD_DATA_DIR", str(tmp_path))
    make_fake_fgvc_aircraft(tmp_path / "fgvc_aircraft")
    assert len(get_dataset("fgvc_aircraft")) == 6


def test_incomplete_copy_is_reraised_as_the_clear_error(tmp_path):
    make_fake_fgvc_aircraft(tmp_path)
    (tmp_path / "fgvc-aircraft-2013b" / "data" / "variants.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"variants\.txt") as info:
        get_dataset("fgvc_aircraft", root=tmp_path)
    assert "fgvc-aircraft-2013b/data/" in str(info.value)


def test_flowers102_without_its_mat_files_is_reported(tmp_path):
    (tmp_path / "flowers-102" / "jpg").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)Flowers102 failed: Dataset not found.*setid\.mat") as info:
        get_dataset("flowers102", root=tmp_path)
    assert "download=True" not in str(info.value)  # torchvision's hint does not apply here


def test_dtd_with_inconsistent_split_files_is_reported(tmp_path):
    make_fake_dtd(tmp_path)
    labels = tmp_path / "dtd" / "dtd" / "labels" / "val1.txt"
    labels.write_text("".join(line + "\n" for line in labels.read_text().splitlines() if not line.startswith("banded")))
    with pytest.raises(DatasetNotFoundError, match="different classes"):
        get_dataset("dtd", root=tmp_path, split="train")
