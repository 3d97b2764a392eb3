import sys
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).parent))  # fakes.py sits beside this file
from fakes import make_fake_cub  # noqa: E402

import fgkd.data.registry as registry  # noqa: E402
from fgkd.data import (  # noqa: E402
    DatasetNotFoundError,
    LabeledSubset,
    clean_class_name,
    data_root,
    default_root,
    get_dataset,
    list_datasets,
    register_dataset,
    stratified_subset,
)

BUILTIN = ["caltech101", "cub200", "dtd", "fgvc_aircraft", "flowers102", "oxford_pets", "stanford_cars",
           "world:aircraft", "world:bird", "world:car"]


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


class Tiny(Dataset):
    def __init__(self, root, split, n=4, transform=None):
        self.root, self.split, self.transform = root, split, transform
        self.classes = ["a", "b"]
        self.targets = [i % 2 for i in range(n)]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image = f"image {index}"
        return (self.transform(image) if self.transform else image), self.targets[index]


def tiny_factory(root, split, transform, n=4):
    return Tiny(root, split, n=n, transform=transform)


def test_list_datasets_has_every_builtin():
    # Other test modules register their own fakes in the same process: builtins must all be there.
    names = list_datasets()
    assert set(BUILTIN) <= set(names), sorted(set(BUILTIN) - set(names))
    assert names == sorted(names)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_dataset("cub2011")
    assert "Unknown dataset 'cub2011'" in str(info.value)
    for name in BUILTIN:
        assert name in str(info.value)


def test_unknown_split_and_option_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="no split 'pretrain'; splits: train, test"):
        get_dataset("dtd", root=tmp_path, split="pretrain")
    with pytest.raises(ValueError, match="takes no option 'partiton'; its options are: partition, fraction"):
        get_dataset("dtd", root=tmp_path, partiton=2)


def test_world_takes_no_root():
    with pytest.raises(ValueError, match="takes no root"):
        get_dataset("world:bird", root="/somewhere")


def test_default_root_comes_from_fgkd_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FGKD_DATA_DIR", str(tmp_path / "store"))
    assert data_root() == tmp_path / "store" and default_root("cub200") == tmp_path / "store" / "cub200"
    make_fake_cub(tmp_path / "store", folder="cub200")
    assert len(get_dataset("cub200", split="test")) == 3
    monkeypatch.delenv("FGKD_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root("dtd") == tmp_path / "home" / "data" / "dtd"


def test_not_found_error_says_where_data_is_expected(tmp_path, monkeypatch):
    monkeypatch.setenv("FGKD_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        get_dataset("cub200")
    error = info.value
    assert error.name == "cub200" and error.root == tmp_path / "cub200"
    assert f"$FGKD_DATA_DIR/cub200 (now {tmp_path / 'cub200'})" in str(error)
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


def test_fraction_gives_a_nested_stratified_subset_of_real_data(tmp_path):
    cub = make_fake_cub(tmp_path, num_classes=2, images_per_class=6, train_per_class=5)
    half = get_dataset("cub200", root=cub.root, fraction=0.4, fraction_seed=1)
    most = get_dataset("cub200", root=cub.root, fraction=0.8, fraction_seed=1)
    assert isinstance(half, LabeledSubset)
    assert np.bincount(half.targets).tolist() == [2, 2] and np.bincount(most.targets).tolist() == [4, 4]
    assert set(half.indices) <= set(most.indices)
    assert half.classes == ["Black footed Albatross", "Laysan Albatross"]


def test_register_a_user_dataset(scratch_registry, tmp_path):
    register_dataset("tiny", tiny_factory, description="two classes")
    assert "tiny" in list_datasets()
    ds = get_dataset("tiny", root=tmp_path, split="test", transform=str.upper, n=6)
    assert ds.root == tmp_path and ds.split == "test" and len(ds) == 6
    assert ds[1] == ("IMAGE 1", 1)
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("tiny", tiny_factory)
    register_dataset("tiny", lambda root, split, transform: Tiny(root, split, n=2), overwrite=True)
    assert len(get_dataset("tiny")) == 2


def test_register_by_module_path(scratch_registry, tmp_path):
    cub = make_fake_cub(tmp_path)
    register_dataset("my_birds", "fgkd.data.cub:load_cub200")  # imported on first use
    assert get_dataset("my_birds", root=cub.root, split="test").image_ids == cub.test_ids


def test_factory_breaking_the_contract_fails_early(scratch_registry):
    class NoClasses(Dataset):
        targets = [0]

        def __len__(self):
            return 1

    register_dataset("broken", lambda root, split, transform: NoClasses())
    with pytest.raises(TypeError, match="without `classes`"):
        get_dataset("broken")


def test_bad_registrations_are_rejected(scratch_registry):
    with pytest.raises(ValueError, match="callable or 'module:function'"):
        register_dataset("bad", "not_a_path")
    with pytest.raises(ValueError, match="non-empty"):
        register_dataset("", tiny_factory)


@pytest.mark.parametrize("raw, clean", [
    ("001.Black_footed_Albatross", "Black footed Albatross"),
    ("200.Common_Yellowthroat", "Common Yellowthroat"),
    ("Faces_easy", "Faces easy"),
    ("Boeing 737-700", "Boeing 737-700"),
    ("F-16A/B", "F-16A/B"),
    ("1.5 litre", "1.5 litre"),
])
def test_clean_class_name(raw, clean):
    assert clean_class_name(raw) == clean


# pretrain_classes: the world refuses pools too small to cover the target classes' attribute
# values (17 is its minimum for this config).
WORLD = dict(num_classes=4, image_size=32, train_per_class=2, test_per_class=1, pretrain_classes=20,
             pretrain_per_class=1)


def test_world_bird_end_to_end():
    from fgkd.data.transforms import test_transform

    train = get_dataset("world:bird", split="train", **WORLD)
    assert len(train) == 8 and len(train.classes) == 4 and sorted(set(train.targets)) == [0, 1, 2, 3]
    image, target = train[0]
    assert image.mode == "RGB" and image.size == (32, 32) and target == train.targets[0]
    assert train.attributes.shape[0] == 8
    assert len(get_dataset("world:bird", split="test", **WORLD)) == 4
    pretrain = get_dataset("world:bird", split="pretrain", **WORLD)
    assert len(pretrain.captions) == len(pretrain) == 20
    tensor, _ = get_dataset("world:bird", split="test", transform=test_transform(32), **WORLD)[0]
    assert tensor.shape == (3, 32, 32)


def test_world_subsets_slice_images_attributes_and_captions():
    pretrain = get_dataset("world:bird", split="pretrain", **{**WORLD, "pretrain_per_class": 2})
    half = get_dataset("world:bird", split="pretrain", fraction=0.5, **{**WORLD, "pretrain_per_class": 2})
    assert len(half) == 20 and sorted(set(half.targets)) == list(range(20))  # one image per class
    subset = stratified_subset(pretrain, 0.5, seed=0)
    np.testing.assert_array_equal(subset.images, pretrain.images[subset.indices])
    np.testing.assert_array_equal(subset.attributes, pretrain.attributes[subset.indices])
    assert subset.captions == [pretrain.captions[i] for i in subset.indices]
    assert subset.world is pretrain.world
