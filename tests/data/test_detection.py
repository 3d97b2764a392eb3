"""Detection data: the world's scenes (boxes, alpha, cache), the COCO tree and COCOeval."""

import numpy as np
import pytest
import torch
from PIL import Image

from fgkd.data import DatasetNotFoundError
from fgkd.data.detection import COCO_METRICS, coco_evaluate, detection_dataset
from fgkd.data.world import World, WorldConfig
from fgkd.data.world.domains import DOMAINS
from fgkd.data.world.render import draw_objects
from fgkd.data.world.scenes import object_layers, render_scenes, scene_split

from fakes import write_fake_coco


def _world(**kw):
    return World(WorldConfig(domain="bird", num_classes=4, train_per_class=3, test_per_class=2, **kw))


def test_scenes_have_boxes_inside_the_image_for_every_main_object():
    scenes = render_scenes(_world(), "train", 64, 3, 3)
    assert scenes.images.shape == (12, 64, 64, 3) and scenes.images.dtype == np.uint8
    assert (scenes.boxes[:, :2] >= 0).all() and (scenes.boxes[:, 2:] <= 64).all()
    assert (scenes.boxes[:, 2:] > scenes.boxes[:, :2]).all()
    assert set(scenes.box_image.tolist()) == set(range(12))  # every scene has its main object
    assert scenes.box_labels.max() < 4 and np.bincount(scenes.box_image).max() <= 3
    assert (scenes.labels == np.tile(np.arange(4), 3)).all()  # main class interleaved
    # the main object's class is among each scene's boxes
    for i, label in enumerate(scenes.labels):
        assert label in scenes.box_labels[scenes.box_image == i]


def test_scenes_are_deterministic_and_cached(tmp_cache):
    world = _world()
    first = scene_split(world, "test", 64, max_objects=2)
    again = render_scenes(world, "test", 64, 2, 2)
    assert np.array_equal(first.images, again.images) and np.array_equal(first.boxes, again.boxes)
    files = list((tmp_cache / "world").glob("bird-scenes-test-*.npz"))
    assert len(files) == 1
    files[0].write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="unreadable"):
        rendered = scene_split(world, "test", 64, max_objects=2)
    assert np.array_equal(rendered.images, first.images)


def test_object_alpha_from_two_draws_recomposes_the_direct_drawing():
    spec = DOMAINS["bird"]
    rows = World(WorldConfig(domain="bird", num_classes=4)).ground_truth("train")[1][:5]
    colour, alpha = object_layers("bird", rows, 32, [0, 1], 1.0)
    background = np.random.default_rng(3).uniform(0, 1, (3, 5, 32, 32)).astype(np.float32)
    direct = background.copy()
    draw_objects(spec, {a.name: rows[:, i] for i, a in enumerate(spec.attributes)}, direct,
                 np.random.default_rng([0, 1, 0]), 1.0)
    assert np.abs(background * (1 - alpha) + colour - direct).max() < 1e-4
    assert 0.05 < alpha.mean() < 0.8  # an object, not nothing or everything


def test_world_scenes_follow_the_detection_contract():
    ds = detection_dataset("world:bird", split="train", num_classes=4, train_per_class=3, scene_size=48)
    image, target = ds[0]
    assert isinstance(image, Image.Image) and image.size == (48, 48)
    assert target["boxes"].dtype == torch.float32 and target["boxes"].shape[1] == 4
    assert target["labels"].min() >= 1 and target["labels"].max() <= len(ds.classes)
    assert ds.coco.getImgIds() == ds.image_ids and len(ds.coco.getAnnIds()) == sum(len(ds.target(i)["labels"]) for i in range(len(ds)))
    assert ds.attributes.shape == (len(ds), len(ds.world.attribute_names))
    with pytest.raises(ValueError, match="no root"):
        detection_dataset("world:bird", root="/tmp", split="train")
    with pytest.raises(ValueError, match="choose one of"):
        detection_dataset("voc", split="train")


def _targets_as_results(ds):
    ids, boxes, scores, cats = [], [], [], []
    for i in range(len(ds)):
        t = ds.target(i) if hasattr(ds, "target") else ds[i][1]
        for box, label in zip(t["boxes"].numpy(), t["labels"].numpy()):
            ids.append(t["image_id"]), boxes.append(box), scores.append(1.0), cats.append(ds.category_ids[label - 1])
    return np.asarray(ids), np.asarray(boxes).reshape(-1, 4), np.asarray(scores), np.asarray(cats)


def test_cocoeval_scores_the_ground_truth_as_perfect_and_nothing_as_zero():
    ds = detection_dataset("world:bird", split="test", num_classes=4, test_per_class=3, scene_size=64)
    perfect = coco_evaluate(ds.coco, *_targets_as_results(ds))
    assert perfect["AP"] == pytest.approx(100.0) and perfect["AP50"] == pytest.approx(100.0)
    assert set(perfect) == set(COCO_METRICS)
    ids, boxes, scores, cats = _targets_as_results(ds)
    shifted = coco_evaluate(ds.coco, ids, boxes + 12.0, scores, cats)  # off by 12 px: worse, not perfect
    assert shifted["AP"] < 50.0
    assert coco_evaluate(ds.coco, ids[:0], boxes[:0], scores[:0], cats[:0]) == {k: 0.0 for k in COCO_METRICS}


def test_coco_tree_loads_through_cocodetection_and_skips_crowds(tmp_path):
    root = write_fake_coco(tmp_path / "coco")
    ds = detection_dataset("coco", root, "train")
    assert ds.classes == ["car", "train"] and ds.category_ids == [3, 7] and len(ds) == 4
    image, target = ds[1]
    assert image.mode == "RGB" and target["labels"].tolist() == [2] and target["image_id"] == 2
    assert target["boxes"].tolist()[0][2] - target["boxes"].tolist()[0][0] == 24
    test = detection_dataset("coco", root, "test")
    assert len(test) == 3  # val2017


def test_missing_coco_names_the_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("FGKD_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as error:
        detection_dataset("coco", split="train")
    message = str(error.value)
    assert "train2017/" in message and "annotations/instances_train2017.json" in message and "cocodataset.org" in message
    (tmp_path / "coco" / "train2017").mkdir(parents=True)
    (tmp_path / "coco" / "annotations").mkdir()
    (tmp_path / "coco" / "annotations" / "instances_train2017.json").write_text("{}")
    with pytest.raises(DatasetNotFoundError, match="is empty"):
        detection_dataset("coco", split="train")
