"""folder:<path>: a user's own ImageFolder tree wherever a dataset name goes."""

import numpy as np
import pytest
from PIL import Image

from fgkd.data import get_dataset, is_dataset_name
from fgkd.data.folder import folder_problem
from fgkd.data.registry import DatasetNotFoundError


def _images(folder, classes, per_class, seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / c / f"img_{i:02d}.png")


def test_a_single_tree_is_split_per_class_seeded_and_disjoint(tmp_path):
    _images(tmp_path / "mine", ["001.Black_footed_Albatross", "002.Laysan_Albatross", "Sooty_Albatross"], 10)
    name = f"folder:{tmp_path / 'mine'}"
    assert is_dataset_name(name) and not is_dataset_name("folder:")
    train = get_dataset(name, split="train")
    test = get_dataset(name, split="test")
    assert train.classes == ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]  # readable names
    assert len(train) == 24 and len(test) == 6  # test_fraction 0.2 of each class
    assert np.bincount(test.targets).tolist() == [2, 2, 2]
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}
    image, target = train[0]
    assert image.mode == "RGB" and image.size == (12, 12) and isinstance(target, int)
    again = get_dataset(name, split="test")
    assert [p for p, _ in again.samples] == [p for p, _ in test.samples]  # same split every time
    other = get_dataset(name, split="test", split_seed=1, test_fraction=0.3)
    assert len(other) == 9 and [p for p, _ in other.samples] != [p for p, _ in test.samples]


def test_train_and_test_folders_are_used_as_given(tmp_path):
    _images(tmp_path / "mine" / "train", ["cat", "dog"], 4)
    _images(tmp_path / "mine" / "test", ["cat", "dog"], 2, seed=1)
    name = f"folder:{tmp_path / 'mine'}"
    assert len(get_dataset(name, split="train")) == 8 and len(get_dataset(name, split="test")) == 4
    with pytest.raises(ValueError, match="takes no root"):
        get_dataset(name, root=tmp_path, split="train")


@pytest.mark.parametrize("layout, problem", [
    ("missing", "does not exist"),
    ("one_class", "at least two"),
    ("no_test", "has train/ but no test/"),
    ("mismatch", "same class folders"),
    ("empty_class", "hold no images"),
])
def test_unusable_folders_are_named_with_the_fix(tmp_path, layout, problem):
    root = tmp_path / "mine"
    if layout == "one_class":
        _images(root, ["cat"], 3)
    elif layout == "no_test":
        _images(root / "train", ["cat", "dog"], 3)
    elif layout == "mismatch":
        _images(root / "train", ["cat", "dog"], 3)
        _images(root / "test", ["cat", "cow"], 3)
    elif layout == "empty_class":
        _images(root, ["cat"], 3)
        (root / "dog").mkdir()
    assert problem in folder_problem(root)
    with pytest.raises(DatasetNotFoundError, match=problem):
        get_dataset(f"folder:{root}", split="train")


def test_params_validation_accepts_a_folder_and_names_a_broken_one(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from notebook_fakes import make_notebook

    from fgkd.reproduce.params import validate_params

    notebook = make_notebook(tmp_path / "nb" / "fake.ipynb")
    _images(tmp_path / "mine", ["cat", "dog"], 5)

    def problems(dataset):
        return [p.format() for p in validate_params({"dataset": dataset}, notebook, tmp_path / "fake.yaml")]

    assert problems(f"folder:{tmp_path / 'mine'}") == []
    broken = problems(f"folder:{tmp_path / 'nothing'}")
    assert len(broken) == 1 and "does not exist" in broken[0] and "ImageFolder tree" in broken[0]
    assert "folder:<path>" in problems("cub2011")[0]


def test_a_run_trains_on_a_folder_dataset(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from train_fakes import lead_config

    from fgkd.runs import get_or_train

    _images(tmp_path / "mine", ["cat", "dog"], 10)
    run = get_or_train(lead_config(method="moco", dataset=f"folder:{tmp_path / 'mine'}", epochs=1, probe_epochs=2))
    assert run.done and 0.0 <= run.metrics["top1"] <= 100.0
    assert run.meta.get("classes", ["cat", "dog"]) == ["cat", "dog"]
