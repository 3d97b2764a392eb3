import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, default_collate

from train_fakes import Blobs, fake_scores, make_method, makd_config

import fgkd.methods.makd as makd
from fgkd.data.transforms import classifier_train_transform
from fgkd.determinism import deterministic
from fgkd.models.classifier import AspectClassifier
from fgkd.experiments.makd import class_mean
from fgkd.methods.makd import MakdMethod, random_targets
from fgkd.scorers import logit
from fgkd.train.engine import derive_seed, seed_everything, train

CPU = torch.device("cpu")


def _built(cfg):
    seed_everything(cfg.seed)
    method = make_method(cfg)
    method.build(CPU)
    method.forward_module = method.module
    return method


def _batch(method, indices=range(8)):
    seed_everything(5)
    return default_collate([method.train_set[i] for i in indices])


def test_alpha_zero_is_plain_cross_entropy_training(tmp_path, llm_files, fake_scorer):
    """MaKD with alpha = 0 trains exactly what a hand-written CE loop trains."""
    cfg = makd_config(llm_options=llm_files, alpha=0.0, epochs=2)
    method = make_method(cfg)
    train(method, tmp_path)
    assert method.module.num_aspects == 0 and fake_scorer == []  # no aspect logits, no scorer

    # the reference: torch only, the engine's seeding protocol, F.cross_entropy, the run's threads
    with deterministic(cfg.threads, "cpu"):
        reference = _plain_cross_entropy(cfg)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, method.module.state_dict()[key]), key


def _plain_cross_entropy(cfg):
    seed_everything(cfg.seed)
    model = AspectClassifier("test_tiny", 4, 0)
    seed_everything(derive_seed(cfg.seed, "train", 0))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.lr_milestones), cfg.gamma)
    data = Blobs("train", classifier_train_transform(16))
    for epoch in range(cfg.epochs):
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "epoch", epoch, 0))
        loader = DataLoader(data, batch_size=8, sampler=RandomSampler(data, generator=gen), drop_last=True,
                            generator=gen)
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model


def test_random_targets_change_only_the_targets(llm_files, fake_scorer):
    real = _built(makd_config(llm_options=llm_files))
    rand = _built(makd_config(llm_options=llm_files, targets="random"))
    assert [q.text for q in real.questions] == [q.text for q in rand.questions]
    assert np.array_equal(real.train_indices, rand.train_indices)
    for key, value in real.module.state_dict().items():
        assert torch.equal(value, rand.module.state_dict()[key]), key
    assert not torch.allclose(real.targets, rand.targets)
    assert real.targets.shape == rand.targets.shape == (32, 4)
    assert 0 < rand.targets.min() and rand.targets.max() < 1
    assert len(fake_scorer) == 1  # only the real run asked the scorer


def test_kl_changes_only_the_aspect_term(llm_files, fake_scorer):
    bce = _built(makd_config(llm_options=llm_files))
    kl = _built(makd_config(llm_options=llm_files, aspect_loss="kl"))
    assert torch.equal(bce.targets, kl.targets)
    a, b = bce.training_step(_batch(bce)), kl.training_step(_batch(kl))
    assert torch.equal(a["ce"], b["ce"])
    assert not torch.isclose(a["aspect"], b["aspect"])
    assert torch.isclose(a["loss"], a["ce"] + a["aspect"])  # alpha = 1


def test_fewer_aspects_take_a_prefix(llm_files, fake_scorer):
    four = _built(makd_config(llm_options=llm_files, num_aspects=4))
    two = _built(makd_config(llm_options=llm_files, num_aspects=2))
    assert [q.text for q in two.questions] == [q.text for q in four.questions][:2]
    assert torch.equal(two.targets, four.targets[:, :2])
    assert two.module.head.out_features == 4 + 2


def test_train_fraction_changes_only_the_images(llm_files, fake_scorer):
    full = _built(makd_config(llm_options=llm_files))
    half = _built(makd_config(llm_options=llm_files, train_fraction=0.5))
    assert len(half.train_set) == 16 and set(half.train_indices) < set(full.train_indices)
    assert np.bincount(np.asarray(Blobs("train").targets)[half.train_indices]).tolist() == [4, 4, 4, 4]
    assert torch.equal(half.targets, full.targets[torch.from_numpy(half.train_indices)])
    # and the image at each position is the full set's image at that index
    x_half, y_half = half.train_set.dataset.dataset[3]
    x_full, y_full = full.train_set.dataset.dataset[int(half.train_indices[3])]
    assert y_half == y_full and np.array_equal(np.asarray(x_half), np.asarray(x_full))


def test_mllm_kd_adds_one_term(llm_files, fake_scorer, monkeypatch):
    logits = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    monkeypatch.setattr(makd, "zero_shot_logits", lambda cfg, dataset, split, **dependencies: logits)
    plain = _built(makd_config(llm_options=llm_files))
    kd = _built(makd_config(llm_options=llm_files, mllm_kd_weight=0.5))
    a, b = plain.training_step(_batch(plain)), kd.training_step(_batch(kd))
    assert torch.equal(a["ce"], b["ce"]) and torch.equal(a["aspect"], b["aspect"])
    assert torch.isclose(b["loss"], a["loss"] + 0.5 * b["mllm_kd"])


def test_mllm_kd_needs_zero_shot_logits(llm_files, fake_scorer):
    with pytest.raises(Exception, match="zero-shot"):
        _built(makd_config(llm_options=llm_files, mllm_kd_weight=0.5, scorer="oracle"))


@pytest.mark.slow
def test_classical_kd_from_a_teacher_run(llm_files, fake_scorer):
    teacher_cfg = makd_config(llm_options=llm_files, alpha=0.0, epochs=2)
    student = _built(makd_config(llm_options=llm_files, alpha=0.0, kd_teacher=teacher_cfg.to_dict(),
                                 kd_weight=0.7, kd_temperature=2.0))
    from fgkd.runs import Run

    assert Run.of(teacher_cfg).done  # the teacher run was trained and stored on the way
    assert not any(p.requires_grad for p in student.kd_teacher.parameters())
    terms = student.training_step(_batch(student))
    assert torch.isclose(terms["loss"], terms["ce"] + 0.7 * terms["kd"])
    assert terms["kd"] > 0


def test_random_targets_are_seeded_and_prefix_stable():
    a = random_targets(10, 6, seed=0)
    assert np.array_equal(a, random_targets(10, 6, seed=0))
    assert np.array_equal(a[:, :3], random_targets(10, 3, seed=0))
    assert not np.array_equal(a, random_targets(10, 6, seed=1))
    big = random_targets(2000, 5, seed=0)
    assert abs(np.median(big) - 0.5) < 0.02 and 0.25 < np.quantile(big, 0.16) < 0.29  # sigmoid(-1) = 0.269


def test_evaluate_counts_class_logits_only(llm_files, fake_scorer):
    method = _built(makd_config(llm_options=llm_files))
    labels = np.array([0, 1, 2, 3])
    class_logits = np.eye(4, dtype=np.float32)  # every image right on its C logits
    aspect_logits = np.full((4, 4), 50.0, dtype=np.float32)  # larger than any class logit

    def features(split):
        return {"labels": labels, "class_logits": class_logits, "aspect_logits": aspect_logits,
                "scorer_probs": np.ones((4, 4), dtype=np.float32), "inference_seconds": np.asarray(0.5)}

    metrics = method.evaluate(features)
    assert metrics["top1"] == 100.0
    assert metrics["aspect_agreement"] == 100.0 and metrics["aspect_mae"] < 1e-6
    assert metrics["num_parameters"] == sum(p.numel() for p in method.module.parameters())


def test_extract_returns_logits_and_scorer_probabilities(llm_files, fake_scorer):
    method = _built(makd_config(llm_options=llm_files))
    arrays = method.extract("test")
    assert arrays["class_logits"].shape == (32, 4) and arrays["aspect_logits"].shape == (32, 4)
    assert np.array_equal(arrays["scorer_probs"], fake_scores(Blobs("test"), method.questions))
    assert float(arrays["inference_seconds"]) > 0


def test_analysis_helpers():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert np.allclose(class_mean(probs, np.array([0, 0, 1]), 3)[:2], [[0.5, 0.5], [0.5, 0.5]])
    assert np.isnan(class_mean(probs, np.array([0, 0, 1]), 3)[2]).all()  # a class without images
    assert np.allclose(1 / (1 + np.exp(-logit(np.array([0.2, 0.5, 0.9])))), [0.2, 0.5, 0.9])


def test_track_test_records_each_epochs_test_accuracy_and_the_best_without_changing_training(llm_files, fake_scorer):
    from fgkd.runs import get_or_train

    plain = get_or_train(makd_config(llm_options=llm_files, epochs=3))
    tracked = get_or_train(makd_config(llm_options=llm_files, epochs=3, track_test=True))
    history = tracked.history
    assert [("test_top1" in h) for h in history] == [True, True, True]
    best = max(h["test_top1"] for h in history)
    assert tracked.metrics["top1_best"] == best and tracked.metrics["top1_best"] >= tracked.metrics["top1"]
    assert history[int(tracked.metrics["best_epoch"]) - 1]["test_top1"] == best
    assert history[-1]["test_top1"] == tracked.metrics["top1"]  # the last epoch is the final model
    assert tracked.metrics["top1"] == plain.metrics["top1"]  # watching the test set changes no weight
    assert "top1_best" not in plain.metrics and "track_test" not in makd_config().hash_dict()


def test_base_curve_is_the_tracked_test_accuracy_of_base_runs_per_epoch(llm_files, fake_scorer):
    from fgkd.experiments import makd
    from fgkd.runs import get_or_train

    ours = makd_config(llm_options=llm_files, epochs=2)
    curve = makd.base_curve(ours, 3, seeds=(0, 1))
    assert list(curve.index) == [1, 2, 3] and curve.index.name == "epoch"
    assert list(curve.columns) == ["test top-1, seed 0", "training loss, seed 0", "test top-1, seed 1",
                                   "training loss, seed 1"]
    # each column is that seed's Base run (alpha 0, 3 epochs), read back from the run store
    for seed in (0, 1):
        run = get_or_train(makd.base_config(ours).replace(track_test=True, epochs=3, seed=seed))
        assert run.cfg.alpha == 0.0
        assert curve[f"test top-1, seed {seed}"].tolist() == [h["test_top1"] for h in run.history]
        assert curve[f"test top-1, seed {seed}"].iloc[-1] == run.metrics["top1"]
    with pytest.raises(ValueError, match="epochs >= 1"):
        makd.base_curve(ours, 0)


def test_the_question_prompt_gets_the_image_count_and_the_ranking_turn(monkeypatch):
    import fgkd.llm as llm_module

    calls = {}

    class Recorder:
        def aspect_questions(self, class_names, n_generate=100, n_select=50, num_images=None, rank=False):
            calls.update(num_images=num_images, rank=rank)
            return []

    monkeypatch.setattr(llm_module, "llm_for", lambda *args, **kwargs: Recorder())
    cfg = makd_config(rank_questions=True)
    dataset = Blobs("train")
    makd.aspect_questions(cfg, dataset)
    assert calls == {"num_images": len(dataset), "rank": True}  # "C classes and M images", then the ranking
