import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from train_fakes import CLASSES, lead_config, tiny_teacher

from fgkd.losses import info_nce
from fgkd.config import ConfigError
from fgkd.train.engine import seed_everything
from fgkd.methods import make_method
from fgkd.methods.lead import LeadMethod, TeacherView, category_names, class_descriptions

CPU = torch.device("cpu")


def _built(cfg, teacher=None, seed=0):
    seed_everything(seed)
    method = make_method(cfg) if teacher is None else make_method(cfg, teacher=teacher)
    method.build(CPU)
    method.forward_module = method.module
    return method


def _batch(method, indices=range(8)):
    seed_everything(123)  # the same augmentations for every method compared
    return default_collate([method.train_set[i] for i in indices])


def test_none_weighting_equals_the_plain_moco_loss(llm_files, teacher):
    lead = _built(lead_config(llm_options=llm_files, weighting="none", alpha=1.0), teacher)
    moco = _built(lead_config(method="moco"))
    for key, value in lead.module.state_dict().items():
        assert torch.equal(value, moco.module.state_dict()[key]), key  # same initial student
    batch = _batch(lead)
    seed_everything(7)
    lead_terms = lead.training_step(batch)
    seed_everything(7)
    moco_terms = moco.training_step(_batch(moco))
    assert torch.equal(lead_terms["loss"], moco_terms["loss"])
    assert lead_terms["w_kd"] == 0 and lead_terms["kd"] > 0  # the teacher is read (logged) but not distilled

    # and the MoCo loss is InfoNCE on the model's outputs, computed independently here
    fresh = _built(lead_config(method="moco"))
    seed_everything(7)
    (x_q, x_k), _, _ = _batch(fresh)
    out = fresh.module(x_q, x_k)
    assert torch.allclose(moco_terms["loss"], info_nce(out.q, out.k, out.queue, 0.2).mean())


def test_entropy_weighting_adds_the_distillation_term(llm_files, teacher):
    method = _built(lead_config(llm_options=llm_files, weighting="entropy", alpha=1.0, beta=5.0), teacher)
    terms = method.training_step(_batch(method))
    assert 0 < terms["w_kd"] < 1 and 0 < terms["w_cl"] < 1
    assert terms["w_cl"] + terms["w_kd"] == pytest.approx(1.0)  # batch means of H^2 and 1 - H^2
    assert terms["kd"] > 0
    assert not torch.isclose(terms["loss"], terms["contrastive"])  # not the contrastive term alone


def test_cached_mode_reads_the_teacher_outputs_rows_by_index(llm_files, teacher):
    method = _built(lead_config(llm_options=llm_files, teacher_mode="cached"), teacher)
    assert method.teacher is None and method.teacher_probs.shape == (32, 4)
    from fgkd.teachers.outputs import compute_teacher_outputs
    from train_fakes import Blobs

    direct = compute_teacher_outputs(teacher, Blobs("train"), method.meta["descriptions"], temperature=0.02)
    index = torch.tensor([5, 0, 31])
    p = method.teacher_distribution(torch.zeros(3, 3, 16, 16), index)
    assert torch.allclose(p, direct.probs[index].float(), atol=1e-6)


def test_online_mode_scores_the_query_view(llm_files, teacher):
    method = _built(lead_config(llm_options=llm_files, teacher_mode="online"), teacher)
    (x_q, x_k), _, index = _batch(method)
    p_q = method.teacher_distribution(x_q, index)
    p_k = method.teacher_distribution(x_k, index)
    assert p_q.shape == (8, 4) and torch.allclose(p_q.sum(1), torch.ones(8), atol=1e-5)
    assert not torch.allclose(p_q, p_k)  # another view, another teacher distribution


def test_teacher_view_maps_student_normalisation_to_the_teacher_input(teacher):
    from fgkd.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    view = TeacherView(teacher)
    grey = torch.full((2, 3, 16, 16), 0.5)  # a mid-grey image in [0, 1]
    student = (grey - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = view(student)
    assert out.shape == (2, 3, teacher.image_size, teacher.image_size)
    expected = (0.5 - view.t_mean) / view.t_std
    assert torch.allclose(out, expected.expand_as(out), atol=1e-5)


def test_teacher_dimension_must_match_the_projection(llm_files, teacher):
    with pytest.raises(ConfigError, match="proj_dim"):
        _built(lead_config(llm_options=llm_files, proj_dim=32), teacher)


def test_word_removal_drops_words_deterministically(llm_files):
    from train_fakes import Blobs

    data = Blobs("train")
    full = class_descriptions(lead_config(llm_options=llm_files), CLASSES, data)
    cut = class_descriptions(lead_config(llm_options=llm_files, word_removal=0.4), CLASSES, data)
    again = class_descriptions(lead_config(llm_options=llm_files, word_removal=0.4), CLASSES, data)
    assert cut == again
    assert all(len(c.split()) == len(f.split()) - round(0.4 * len(f.split())) for c, f in zip(cut, full))


def test_category_names():
    from train_fakes import Blobs

    data = Blobs("train")
    assert category_names(lead_config(), data) == CLASSES
    fewer = category_names(lead_config(num_categories=2), data)
    assert len(fewer) == 2 and set(fewer) <= set(CLASSES)
    with pytest.raises(ConfigError, match="extra names"):
        category_names(lead_config(num_categories=6), data)


def test_more_categories_than_classes_come_from_the_world():
    class Spec:
        def __init__(self, name):
            self.name = name

    class World:
        pretrain_classes = [Spec("Extra A"), Spec("Extra B")]

    class Data:
        classes = CLASSES
        world = World()

    assert category_names(lead_config(num_categories=6), Data()) == CLASSES + ["Extra A", "Extra B"]


@pytest.mark.parametrize("method", ["simclr", "ibot"])
def test_ssl_baselines_train_a_step(method):
    m = _built(lead_config(method=method))
    terms = m.training_step(_batch(m))
    assert torch.isfinite(terms["loss"]) and terms["loss"].requires_grad


def _clustered_features():
    """``split -> {"features", "labels"}``: 4 well-separated classes of 10 points each."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 5

    def features(split):
        labels = np.repeat(np.arange(4), 10)
        return {"features": (centres[labels] + rng.normal(size=(40, 8))).astype(np.float32), "labels": labels}

    return features


def test_evaluate_probes_and_retrieves_on_features():
    features = _clustered_features()
    method = make_method(lead_config(method="moco", probe_epochs=20))
    metrics = method.evaluate(features)
    # the final probe epoch, and the best test epoch as LEAD-pp and MoCo's main_lincls report it
    assert set(metrics) == {"top1", "top5", "top1_best", "top5_best", "best_epoch", "R-1", "R-5", "mAP",
                            "knn_top1", "knn_top5"}
    assert metrics["knn_top1"] > 90  # separable classes: the neighbours agree
    assert metrics["top1"] > 90 and metrics["mAP"] > 90


def test_a_validation_split_picks_the_probe_epoch_and_the_authors_probe_reencodes_views():
    features = _clustered_features()
    method = make_method(lead_config(method="moco", probe_epochs=8, validation_fraction=0.2))
    keep, held = method.validation_split(np.repeat(np.arange(4), 10))
    assert len(held) == 8 and np.bincount(np.repeat(np.arange(4), 10)[held]).tolist() == [2, 2, 2, 2]
    assert not set(keep) & set(held) and len(keep) + len(held) == 40
    metrics = method.evaluate(features)
    assert {"top1_selected", "top5_selected", "selected_epoch", "val_top1"} <= set(metrics)
    # the authors' probe: a fresh augmented view of every training image per epoch, through the backbone
    authors = _built(lead_config(method="moco", probe_epochs=3, probe="authors"))
    calls = []
    real = authors._augmented_train_features

    def counting(rows):
        fn = real(rows)
        return lambda epoch: calls.append(epoch) or fn(epoch)

    authors._augmented_train_features = counting
    out = authors.evaluate(lambda split: {"features": np.asarray(authors.extract(split)["features"]),
                                          "labels": authors.extract(split)["labels"]})
    assert calls == [0, 1, 2] and 0 <= out["top1"] <= 100
    # new options leave the keys of runs that do not use them alone
    base = lead_config(method="moco")
    assert "probe" not in base.hash_dict() and lead_config(method="moco", probe="authors").config_hash() != \
        base.config_hash()


@pytest.mark.parametrize("method", ["moco", "lead", "simclr", "ibot"])
def test_batched_views_feed_every_ssl_method_through_the_engines_loader(llm_files, teacher, method):
    from fgkd.data.batch_augment import TwoViewCollate
    from fgkd.train import ddp
    from fgkd.train.engine import make_loader

    cfg = lead_config(method=method, augment="batched", **({"llm_options": llm_files} if method == "lead" else {}))
    m = _built(cfg, teacher=teacher if method == "lead" else None)
    assert isinstance(m.collate_fn, TwoViewCollate)
    assert m.collate_fn.recipe.crop_scale == ((0.08, 1.0) if method == "simclr" else (0.2, 1.0))
    (x_q, x_k), _, index = next(iter(make_loader(m, 0, ddp.current())))
    assert x_q.dtype == torch.float32 and x_q.shape == x_k.shape and x_q.shape[0] == cfg.batch_size
    terms = m.training_step([(x_q, x_k), None, index])
    assert torch.isfinite(terms["loss"]) and terms["loss"].requires_grad
    # another pipeline, other random draws: another run; the default keeps the stored key
    assert cfg.config_hash() != cfg.replace(augment="pil").config_hash()
    assert "augment" not in cfg.replace(augment="pil").hash_dict()


def test_an_unknown_augment_is_named():
    with pytest.raises(ConfigError, match="augment"):
        lead_config(augment="kornia")


def test_track_test_records_each_epochs_knn_accuracy_without_changing_the_training():
    from fgkd.experiments import lead
    from fgkd.runs import get_or_train

    cfg = lead_config(method="moco", epochs=2)
    plain = get_or_train(cfg)
    tracked = get_or_train(cfg.replace(track_test=True))
    assert [("test_knn_top1" in h) for h in tracked.history] == [True, True]
    assert tracked.history[-1]["test_knn_top1"] == tracked.metrics["knn_top1"]  # the last epoch is the final model
    assert tracked.metrics["top1"] == plain.metrics["top1"]  # watching the test set changes no weight
    assert "track_test" not in cfg.hash_dict() and cfg.config_hash() != tracked.cfg.config_hash()
    curve = lead.base_curve(cfg, 2)  # reads the tracked run back, with the init as epoch 0
    assert list(curve.index) == [0, 1, 2]
    assert curve["test kNN top-1"].tolist() == [lead.evaluate_untrained(cfg)["knn_top1"],
                                                *[h["test_knn_top1"] for h in tracked.history]]
