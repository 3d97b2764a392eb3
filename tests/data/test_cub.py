import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # fakes.py sits beside this file
from fakes import CUB_ATTRIBUTES, class_color, make_fake_cub  # noqa: E402

from fgkd.data import DatasetNotFoundError, get_dataset, stratified_subset  # noqa: E402
from fgkd.data.cub import CUB200, readable_attribute_name  # noqa: E402


@pytest.fixture
def cub(tmp_path):
    return make_fake_cub(tmp_path, num_classes=3, images_per_class=3, train_per_class=2)


def test_train_and_test_follow_the_official_split(cub):
    train = get_dataset("cub200", root=cub.root, split="train")
    test = get_dataset("cub200", root=cub.root, split="test")
    assert isinstance(train, CUB200)
    assert train.image_ids == cub.train_ids and test.image_ids == cub.test_ids
    assert train.targets == [cub.labels[i] for i in cub.train_ids]
    assert test.targets == [cub.labels[i] for i in cub.test_ids]
    assert len(train) == 6 and len(test) == 3


def test_classes_are_readable_names(cub):
    train = get_dataset("cub200", root=cub.root)
    assert train.classes == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert train.raw_classes == list(cub.classes)


def test_items_are_rgb_images_of_their_class(cub):
    train = get_dataset("cub200", root=cub.root)
    for index in range(len(train)):
        image, target = train[index]
        assert image.mode == "RGB" and image.size == (8, 8)
        assert isinstance(target, int) and target == train.targets[index]
        mean = np.asarray(image).reshape(-1, 3).mean(0)
        if train.image_ids[index] == cub.greyscale_id:
            assert mean[0] == mean[1] == mean[2]  # a 1-channel JPEG comes back as grey RGB
        else:  # JPEG is lossy: the mean colour is within a few levels of the class colour
            assert np.allclose(mean, class_color(target), atol=12)
    assert cub.greyscale_id in train.image_ids


def test_transform_is_applied(cub):
    train = get_dataset("cub200", root=cub.root, transform=lambda im: torch.full((1,), float(im.size[0])))
    image, _ = train[0]
    assert torch.equal(image, torch.tensor([8.0]))


def test_root_may_be_the_folder_holding_cub_200_2011(cub):
    train = get_dataset("cub200", root=cub.root.parent)
    assert train.root == cub.root and len(train) == 6


@pytest.mark.parametrize("where", ["top", "attributes", "parent"])
def test_attribute_labels_and_names(tmp_path, where):
    cub = make_fake_cub(tmp_path, attributes_txt=where)
    test = get_dataset("cub200", root=cub.root, split="test")
    rows = np.array(test.image_ids) - 1
    assert test.attribute_labels.dtype == np.uint8
    np.testing.assert_array_equal(test.attribute_labels, cub.attribute_labels[rows])
    np.testing.assert_array_equal(test.attribute_certainties, cub.attribute_certainties[rows])
    assert test.attribute_keys == list(CUB_ATTRIBUTES)
    assert test.attribute_names[0] == "bill shape: curved (up or down)"


def test_readable_attribute_name():
    assert readable_attribute_name("has_wing_color::blue") == "wing color: blue"
    assert readable_attribute_name("has_bill_length::about_the_same_as_head") == "bill length: about the same as head"


def test_missing_attribute_files_fail_only_when_used(tmp_path):
    cub = make_fake_cub(tmp_path, attributes_txt="none")
    train = get_dataset("cub200", root=cub.root)
    assert len(train) == 6  # images load without the attribute files
    with pytest.raises(DatasetNotFoundError, match="attributes.txt is missing"):
        train.attribute_names
    (cub.root / "attributes" / "image_attribute_labels.txt").unlink()
    (cub.root / "attributes.txt").write_text("1 has_wing_color::blue\n")
    with pytest.raises(DatasetNotFoundError, match="image_attribute_labels.txt is missing"):
        train.attribute_labels


def test_stratified_subset_slices_the_attribute_labels(cub):
    train = get_dataset("cub200", root=cub.root)
    subset = stratified_subset(train, 0.5, seed=0)
    kept = np.array(subset.indices)
    np.testing.assert_array_equal(subset.attribute_labels, train.attribute_labels[kept])
    assert subset.image_ids == [train.image_ids[i] for i in kept]
    assert subset.attribute_names == train.attribute_names  # shared, not sliced


def test_missing_folder_names_the_layout_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("cub200", root=tmp_path / "nowhere")
    message = str(info.value)
    assert "'cub200'" in message and "does not exist" in message
    for part in ("images.txt", "train_test_split.txt", "image_class_labels.txt", "classes.txt", "images/"):
        assert part in message
    assert "vision.caltech.edu" in message and "never downloads" in message
    assert isinstance(info.value, FileNotFoundError)


def test_incomplete_folder_names_what_is_missing(cub):
    (cub.root / "classes.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing classes\.txt"):
        get_dataset("cub200", root=cub.root)


def test_missing_image_file_is_reported(cub):
    (cub.root / "images" / cub.relpaths[cub.test_ids[0]]).unlink()
    get_dataset("cub200", root=cub.root, split="train")  # the train split is complete
    with pytest.raises(DatasetNotFoundError, match=r"1 of 3 test images are missing"):
        get_dataset("cub200", root=cub.root, split="test")


def test_inconsistent_annotation_files_are_reported(cub):
    lines = (cub.root / "image_class_labels.txt").read_text().splitlines()
    (cub.root / "image_class_labels.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetNotFoundError, match="different image ids"):
        get_dataset("cub200", root=cub.root)


def test_unknown_split_is_rejected(cub):
    with pytest.raises(ValueError, match="no split 'val'"):
        get_dataset("cub200", root=cub.root, split="val")
