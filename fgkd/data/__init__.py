"""Datasets: the procedural world and real fine-grained datasets behind one registry.

>>> from fgkd.data import get_dataset, list_datasets
>>> train = get_dataset("cub200", split="train")        # $FGKD_DATA_DIR/cub200 or ~/data/cub200
>>> train.classes[0], train.targets[0]                   # ("Black footed Albatross", 0)

Transforms live in :mod:`fgkd.data.transforms` (imported on its own: it pulls in torchvision).
"""

from fgkd.data.registry import (
    ENV_DATA,
    DatasetEntry,
    DatasetNotFoundError,
    clean_class_name,
    data_root,
    default_root,
    get_dataset,
    is_dataset_name,
    is_folder_dataset,
    list_datasets,
    register_dataset,
)
from fgkd.data.subsets import LabeledSubset, stratified_subset

__all__ = [
    "ENV_DATA",
    "DatasetEntry",
    "DatasetNotFoundError",
    "LabeledSubset",
    "clean_class_name",
    "data_root",
    "default_root",
    "get_dataset",
    "is_dataset_name",
    "is_folder_dataset",
    "list_datasets",
    "register_dataset",
    "stratified_subset",
]
