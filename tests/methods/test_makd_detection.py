"""MaKD for detection (Table 7): config, model, loss, a run on world scenes and the paper-scale
path on a fake COCO tree with the VLM scorer, COCOeval included."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fgkd.config import ConfigError
from fgkd.losses import makd_detection_loss
from fgkd.methods import MakdDetectionConfig, config_from_dict
from fgkd.models.detector import AspectDetector, build_detector
from fgkd.runs import get_or_train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teachers"))
from fakes import write_fake_coco  # noqa: E402
from tiny_vlm import save_tiny_vlm  # noqa: E402

WORLD = {"num_classes": 3, "scene_size": 64, "scenes_per_class": 4, "test_scenes_per_class": 3, "max_objects": 2}


def world_config(**changes):
    cfg = MakdDetectionConfig(dataset="world:bird", dataset_options=WORLD, image_size=64, detector="resnet18_fpn",
                              pretrained=False, llm_backend="template", llm_style="a", n_generate=20, n_select=6,
                              num_aspects=6, scorer="oracle", scorer_options={"noise": 0.5}, alpha=1.0,
                              batch_size=4, epochs=1, num_workers=0, device="cpu", progress=False)
    return cfg.replace(**changes) if changes else cfg


@pytest.mark.parametrize("changes, key", [({"dataset": "voc"}, "dataset"), ({"detector": "yolo"}, "detector"),
                                          ({"alpha": -1.0}, "alpha"), ({"num_aspects": 60}, "num_aspects"),
                                          ({"milestones": (3,)}, "milestones"), ({"image_size": 16}, "image_size")])
def test_bad_values_name_the_field(changes, key):
    with pytest.raises(ConfigError, match=key):
        world_config(**changes)


def test_base_ignores_the_question_and_scorer_fields_and_differs_from_ours():
    base = world_config(alpha=0.0)
    assert base.config_hash() == world_config(alpha=0.0, scorer="clip", num_aspects=2).config_hash()
    assert base.config_hash() != world_config().config_hash()
    assert world_config().config_hash() != world_config(scorer_options={"noise": 1.0}).config_hash()
    assert config_from_dict(world_config().record()) == world_config()
    assert world_config(epochs=26).lr_milestones == (16, 22)  # torchvision's recipe
    assert world_config(epochs=13).lr_milestones == (8, 11)


def test_aspect_detector_trains_on_detector_losses_and_answers_per_image():
    torch.manual_seed(0)
    model = AspectDetector(build_detector("resnet18_fpn", 3, 64, False), num_aspects=5).train()
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[4.0, 4.0, 30.0, 30.0]]), "labels": torch.tensor([1])}] * 2
    losses, _, aspects = model(images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert aspects.shape == (2, 5)
    terms = makd_detection_loss(losses, aspects, torch.full((2, 5), 0.25), alpha=2.0)
    detector = sum(losses.values())
    bce = torch.nn.functional.binary_cross_entropy_with_logits(aspects, torch.full((2, 5), 0.25))
    assert torch.allclose(terms["total"], detector + 2.0 * bce)
    terms["total"].backward()
    assert model.aspect_head.weight.grad is not None and model.detector.backbone.body.conv1.weight.grad is not None
    model.eval()
    _, detections, _ = model(images)
    assert len(detections) == 2 and set(detections[0]) == {"boxes", "labels", "scores"}
    plain = AspectDetector(build_detector("resnet18_fpn", 3, 64, False)).train()
    losses, _, none = plain(images, targets)
    assert none is None and makd_detection_loss(losses, None, None, 1.0)["total"] == sum(losses.values())
    with pytest.raises(ValueError, match="aspect_targets"):
        makd_detection_loss(losses, aspects, torch.zeros(2, 4), 1.0)


def test_a_run_on_world_scenes_reports_cocoeval_ap_and_is_deterministic(tmp_path, monkeypatch):
    run = get_or_train(world_config())
    m = run.metrics
    for key in ("AP", "AP50", "AP75", "APs", "APm", "aspect_agreement"):
        assert key in m
    assert 0.0 <= m["AP"] <= 100.0 and m["n_test"] == 9
    arrays = run.arrays("test")
    assert arrays["aspect_logits"].shape == (9, 6) and arrays["scorer_probs"].shape == (9, 6)
    assert arrays["det_boxes"].shape[1] == 4 and len(arrays["det_image"]) == len(arrays["det_scores"])
    assert {"detector", "aspect", "loss_classifier"} <= set(run.history[0])
    base = get_or_train(world_config(alpha=0.0))
    assert "aspect_agreement" not in base.metrics and "aspect" not in base.history[0]
    assert base.metrics["num_parameters"] < m["num_parameters"]  # no aspect head
    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "again"))  # the same run, trained again elsewhere
    again = get_or_train(world_config())
    assert again.metrics["AP"] == m["AP"] and again.history[0]["loss"] == run.history[0]["loss"]
    model = again.model()
    assert isinstance(model, AspectDetector) and model.num_aspects == 6


def test_paper_scale_path_on_a_fake_coco_tree_with_the_vlm_scorer(tmp_path, llm_files):
    root = write_fake_coco(tmp_path / "coco")
    vlm = save_tiny_vlm(tmp_path / "vlm")
    cfg = MakdDetectionConfig(dataset="coco", data_root=str(root), image_size=64, detector="resnet50_fpn",
                              pretrained=False, llm_backend="file", llm_options=llm_files, n_generate=6, n_select=4,
                              num_aspects=4, scorer="vlm",
                              scorer_options={"model_id": str(vlm), "device": "cpu", "question_batch_size": 2},
                              batch_size=2, epochs=1, num_workers=0, device="cpu", progress=False)
    run = get_or_train(cfg)
    assert set(run.metrics) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "aspect_agreement"}
    assert run.metrics["n_test"] == 3  # val2017
    probs = run.arrays("test")["scorer_probs"]
    assert probs.shape == (3, 4) and ((probs > 0) & (probs < 1)).all()
    assert run.meta["classes"] == ["car", "train"]


def test_the_paper_detector_needs_its_imagenet_weights_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(FileNotFoundError, match="resnet50-0676ba61.pth"):
        build_detector("resnet50_fpn", 80, 800, pretrained=True)


def test_the_experiment_table_pairs_seeds_and_states_verdicts():
    import pandas as pd

    from fgkd.experiments import makd

    rows = {}
    for method, shift in (("Base", 0.0), ("Ours", 1.0)):
        rows[method] = {f"{k} per seed": tuple(np.array([10.0, 12.0, 11.0]) + shift + i)
                        for i, k in enumerate(("AP", "AP50", "AP75", "APs", "APm", "APl"))}
    table = makd.detection_table(pd.DataFrame.from_dict(rows, orient="index"))
    assert table.loc["Gap", "AP"] == pytest.approx(1.0) and table.loc["Gap", "AP sd"] == pytest.approx(0.0)
    assert table.loc["Ours", "AP50"] == pytest.approx(13.0)
    verdicts = makd.detection_verdicts(table)
    assert [v.claim for v in verdicts] == ["MaKD beats Base in box AP", "MaKD beats Base in box AP50",
                                          "MaKD beats Base in box AP75"]
